# decide.sh: the postgresql preset's decisions as pure functions (sourced, POSIX sh, builtins
# only): no I/O, every input an argument, the answer printed. The agent and start.sh call them;
# tests/unit/test_postgresql_decide.py runs them over tables.

# lsn_num LSN: a WAL location "X/Y" (hex) as one decimal number (64 bits; "" or - for none: -1)
lsn_num() {
  case $1 in
  */*) printf '%s' "$(((0x${1%/*} << 32) + 0x${1#*/}))" ;;
  *) printf '%s' -1 ;;
  esac
}

# lsn_ge A B: A is at or past B
lsn_ge() { [ "$(lsn_num "$1")" -ge "$(lsn_num "$2")" ]; }

# lsn_max A B: the later of two locations ("" counts as none)
lsn_max() { if lsn_ge "$1" "$2"; then printf '%s' "$1"; else printf '%s' "$2"; fi; }

# slot_name POD: the replication slot of a member (slot names take [a-z0-9_] only)
slot_name() {
  _sn_out= _sn_rest=$1
  while [ -n "$_sn_rest" ]; do
    _sn_c=${_sn_rest%"${_sn_rest#?}"}
    _sn_rest=${_sn_rest#?}
    case $_sn_c in [a-z0-9_]) _sn_out=$_sn_out$_sn_c ;; *) _sn_out=${_sn_out}_ ;; esac
  done
  printf '%s' "$_sn_out"
}

# sync_names WAIT SELF POD...: synchronous_standby_names of a primary SELF among PODs: every
# commit waits until WAIT of the other members have flushed it ('' = none waited for)
sync_names() {
  _sy_k=$1 _sy_self=$2 _sy_list=
  shift 2
  if [ "$_sy_k" -le 0 ]; then printf ''; return 0; fi
  for _sy_p in "$@"; do
    [ "$_sy_p" = "$_sy_self" ] || _sy_list="$_sy_list${_sy_list:+, }\"$_sy_p\""
  done
  printf 'ANY %s (%s)' "$_sy_k" "$_sy_list"
}

# elect_verdict SELF HOLDER NEED TABLE: may SELF take an expired Lease? TABLE has one line per
# member, SELF included: "<pod> <ordinal> <state> <lsn>", state = stopped (answers, in recovery,
# receives from nobody), receiving (still streams from the old primary), primary (out of recovery:
# the old primary not fenced yet) or silent (does not answer; lsn -).
# Prints "take", or "wait <why>" (not yet: members still receive or write, or too few answer), or
# "defer <pod>" (that member goes first: it is more advanced, or as advanced and the last holder,
# then the lowest ordinal). Every acknowledged commit is on NEED of the members (the primary and
# its quorum of standbys), so the most advanced of NEED stopped members has all of them.
elect_verdict() {
  _ev_self=$1 _ev_holder=$2 _ev_need=$3 _ev_seen=0 _ev_wait= _ev_best= _ev_best_lsn= _ev_best_ord=
  _ev_rest=$4
  while [ -n "$_ev_rest" ]; do
    _ev_line=${_ev_rest%%"$NL"*}
    case $_ev_rest in *"$NL"*) _ev_rest=${_ev_rest#*"$NL"} ;; *) _ev_rest= ;; esac
    [ -n "$_ev_line" ] || continue
    # shellcheck disable=SC2086
    set -- $_ev_line
    case $3 in
    receiving | primary) _ev_wait="$_ev_wait $1"; continue ;;
    stopped) _ev_seen=$((_ev_seen + 1)) ;;
    *) continue ;;
    esac
    if [ -z "$_ev_best" ] || ! lsn_ge "$_ev_best_lsn" "$4"; then
      _ev_best=$1 _ev_best_lsn=$4 _ev_best_ord=$2
    elif lsn_ge "$4" "$_ev_best_lsn"; then
      # as advanced: the last holder first, then the lowest ordinal
      if [ "$1" = "$_ev_holder" ] || { [ "$_ev_best" != "$_ev_holder" ] && [ "$2" -lt "$_ev_best_ord" ]; }; then
        _ev_best=$1 _ev_best_lsn=$4 _ev_best_ord=$2
      fi
    fi
  done
  if [ -n "$_ev_wait" ]; then
    printf 'wait for%s to stop receiving from (or being) the old primary' "$_ev_wait"
  elif [ "$_ev_seen" -lt "$_ev_need" ]; then
    printf 'wait: %s of the %s members needed answer' "$_ev_seen" "$_ev_need"
  elif [ "$_ev_best" = "$_ev_self" ]; then
    printf 'take'
  else
    printf 'defer %s' "$_ev_best"
  fi
}

# follow_plan MY_TLI MY_LSN PRIMARY_TLI PRIMARY_LSN HISTORY: can a member whose WAL ends at
# MY_LSN on timeline MY_TLI stream from a primary on PRIMARY_TLI, now at PRIMARY_LSN? HISTORY is
# the primary's timeline history file ("<parent tli> <switchpoint> <reason>" lines). Prints
# "stream" (its WAL is a prefix of the primary's), or "rewind <why>" (it has WAL the primary's
# history does not: an old primary's unreplicated commits, or another lineage).
follow_plan() {
  if [ "$1" = "$3" ]; then
    if lsn_ge "$4" "$2"; then printf 'stream'; else printf 'rewind ahead of the primary on timeline %s (%s > %s)' "$1" "$2" "$4"; fi
    return 0
  fi
  if [ "$1" -gt "$3" ]; then
    printf 'rewind on timeline %s, newer than the primary'"'"'s %s' "$1" "$3"
    return 0
  fi
  _fp_rest=$5
  while [ -n "$_fp_rest" ]; do
    _fp_line=${_fp_rest%%"$NL"*}
    case $_fp_rest in *"$NL"*) _fp_rest=${_fp_rest#*"$NL"} ;; *) _fp_rest= ;; esac
    # shellcheck disable=SC2086
    set -- "$1" "$2" $_fp_line
    [ "$#" -ge 4 ] && [ "$3" = "$1" ] || continue
    if lsn_ge "$4" "$2"; then printf 'stream'; else printf 'rewind past the switch from timeline %s at %s (at %s)' "$1" "$4" "$2"; fi
    return 0
  done
  printf 'rewind: timeline %s is not in the primary'"'"'s history' "$1"
}

# fence_due NOW_MS RENEWED_MS FENCE_MS: a primary that last renewed at RENEWED_MS must stop
# taking writes (its Lease may be taken LEASE - FENCE_MS after it)
fence_due() { [ $(($1 - $2)) -ge "$3" ]; }

# standby_floor NAME CHART PRIMARY...: (triples) the server options a member starting in recovery
# needs: PostgreSQL refuses to recover with max_connections, max_worker_processes,
# max_wal_senders, max_prepared_transactions or max_locks_per_transaction below the primary's
# (its control file holds them), so a setting the chart lowered runs at the primary's value
# until the primary runs with the lower one. Prints "-c NAME=VALUE" per raised setting.
standby_floor() {
  _sf_out=
  while [ "$#" -ge 3 ]; do
    case $2$3 in *[!0-9]* | '') ;; *)
      case $2 in '') ;; *) case $3 in '') ;; *)
        [ "$3" -le "$2" ] || _sf_out="$_sf_out${_sf_out:+ }-c $1=$3" ;; esac ;; esac ;;
    esac
    shift 3
  done
  printf '%s' "$_sf_out"
}

# failsafe_verdict STREAMING POD...: may a primary that cannot renew its Lease (the Kubernetes API
# does not answer) stay the primary? STREAMING is the space-separated application names of the
# standbys streaming from it that replied within the last seconds (pg_stat_replication); POD...
# the other members. Prints "keep" when every one of them streams from it (none is electing: a
# member stops receiving before it compares WAL ends, and a commit needs a quorum of them), else
# "fence <the members that do not>".
failsafe_verdict() {
  _fs_streaming=" $1 " _fs_missing=
  shift
  for _fs_p in "$@"; do
    case $_fs_streaming in *" $_fs_p "*) ;; *) _fs_missing="$_fs_missing $_fs_p" ;; esac
  done
  if [ -z "$_fs_missing" ]; then printf 'keep'; else printf 'fence%s' "$_fs_missing"; fi
}
