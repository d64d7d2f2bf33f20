# lib.sh: MongoDB's helpers for the chart's scripts (sourced, POSIX sh), on top of the library's
# common.sh. Uses what the official mongo image has: mongosh, timeout, date, sed.
# Env: POD_NAME PEERS JS_DIR + what files/mongo.js reads

[ -n "${COMMON_LOADED:-}" ] || . "${SCRIPTS_DIR:-/scripts}/common.sh"
LIB_LOADED=1

now() { date +%s; }

# js ACTION [SECONDS]: ACTION of mongo.js in mongosh (stdout and stderr), bounded by SECONDS
# (default 20). --nodb: the script opens its own connections and reads the passwords from the
# environment, so no secret is ever on a command line.
js() {
  ACTION=$1 timeout "${2:-20}" mongosh --nodb --quiet --norc "${JS_DIR:-/js}/mongo.js" 2>&1
}

# fact NAME TEXT: the value of the first "NAME value" line of a js output ("" when none)
fact() {
  printf '%s\n' "$2" | sed -n "s/^$1 //p" | sed -n 1p
}

