"""One chaos and failover bench for every clustered preset (`make bench-cluster`)."""
