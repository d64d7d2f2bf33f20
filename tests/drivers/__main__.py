"""python -m tests.drivers: the test images the e2e suite loads."""
from tests.drivers import e2e_images

print(" ".join(e2e_images()))
