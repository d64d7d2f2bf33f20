"""The PostgreSQL agent's decisions (presets/postgresql/files/decide.sh), the very file the chart
ships, run over tables by dash (the official postgres image's /bin/sh): WAL location order,
replication slot names, the quorum of synchronous standbys, who takes an expired Lease, and
whether a member may stream from a primary or must be rewound first."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from chartgen.presets import load

DECIDE = load("postgresql").path / "files" / "decide.sh"
DASH = shutil.which("dash")
pytestmark = pytest.mark.skipif(DASH is None, reason="dash (the image's /bin/sh) is not installed")


def call(fn: str, *args: str) -> tuple[int, str]:
    script = f"NL='\n'\n. {shlex.quote(str(DECIDE))}\n{fn} {' '.join(shlex.quote(a) for a in args)}"
    proc = subprocess.run([DASH, "-c", script], capture_output=True, text=True, timeout=10)
    assert not proc.stderr, proc.stderr
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("lsn,num", [("0/0", 0), ("0/3000060", 0x3000060), ("1/0", 1 << 32),
                                     ("16/B374D848", (0x16 << 32) + 0xB374D848),
                                     ("FFFFFFF/FFFFFFFF", (0xFFFFFFF << 32) + 0xFFFFFFFF), ("", -1), ("-", -1)])
def test_a_wal_location_is_one_number(lsn, num):
    assert call("lsn_num", lsn) == (0, str(num))


@pytest.mark.parametrize("a,b,ge", [("0/3000060", "0/3000060", True), ("1/0", "0/FFFFFFFF", True),
                                    ("0/FFFFFFFF", "1/0", False), ("0/10", "", True), ("", "0/0", False),
                                    ("0/A", "0/9", True), ("0/9", "0/A", False),
                                    # text order would say otherwise
                                    ("0/10000000", "0/F000000", True), ("10/0", "9/FFFFFFFF", True),
                                    ("9/FFFFFFFF", "10/0", False), ("0/abc", "0/ABC", True)])
def test_wal_locations_compare_as_numbers_not_text(a, b, ge):
    assert call("lsn_ge", a, b)[0] == (0 if ge else 1)


@pytest.mark.parametrize("pod,slot", [("pg-0", "pg_0"), ("my-db-12", "my_db_12"), ("a.b", "a_b")])
def test_a_member_s_slot_name_is_a_valid_slot_name(pod, slot):
    assert call("slot_name", pod) == (0, slot)


@pytest.mark.parametrize("k,members,expected", [
    (0, ["pg-0"], ""),
    (1, ["pg-0", "pg-1", "pg-2"], 'ANY 1 ("pg-1", "pg-2")'),
    (2, ["pg-0", "pg-1", "pg-2", "pg-3", "pg-4"], 'ANY 2 ("pg-1", "pg-2", "pg-3", "pg-4")'),
])
def test_the_primary_waits_for_a_quorum_of_the_other_members(k, members, expected):
    assert call("sync_names", str(k), "pg-0", *members) == (0, expected)


def test_the_quorum_never_names_the_primary_itself():
    assert call("sync_names", "1", "pg-2", "pg-0", "pg-1", "pg-2") == (0, 'ANY 1 ("pg-0", "pg-1")')


def verdict(self: str, holder: str, need: int, *rows: str) -> str:
    return call("elect_verdict", self, holder, str(need), "\n".join(rows))[1]


ELECTIONS = [
    # the most advanced stopped member takes it
    ("pg-1", "pg-0", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/4000000"], "take"),
    ("pg-2", "pg-0", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/4000000"], "defer pg-1"),
    # locations compare as numbers: 0/10000000 is past 0/F000000
    ("pg-1", "pg-0", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/10000000", "pg-2 2 stopped 0/F000000"], "take"),
    # as advanced: the last holder first, then the lowest ordinal
    ("pg-2", "pg-2", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/5000000"], "take"),
    ("pg-1", "pg-2", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/5000000"], "defer pg-2"),
    ("pg-1", "pg-0", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/5000000"], "take"),
    ("pg-2", "pg-0", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/5000000"], "defer pg-1"),
    # too few answer: every acknowledged commit is on NEED members, so fewer may all lack one
    ("pg-1", "pg-0", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 silent -"],
     "wait: 1 of the 2 members needed answer"),
    ("pg-1", "pg-0", 3, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/1", "pg-3 3 silent -",
                         "pg-4 4 silent -"], "wait: 2 of the 3 members needed answer"),
    # a member still streaming from the old primary may receive more: nobody decides yet
    ("pg-1", "pg-0", 2, ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 receiving 0/4000000"],
     "wait for pg-2 to stop receiving from (or being) the old primary"),
    # the old primary still out of recovery (not fenced yet): it may still commit
    ("pg-1", "pg-0", 2, ["pg-0 0 primary 0/6000000", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/5000000"],
     "wait for pg-0 to stop receiving from (or being) the old primary"),
    # the old primary answering (restarted as a standby, stopped) counts like any member
    ("pg-1", "pg-0", 2, ["pg-0 0 stopped 0/6000000", "pg-1 1 stopped 0/5000000", "pg-2 2 silent -"], "defer pg-0"),
    # five members, a quorum of three
    ("pg-3", "pg-0", 3, ["pg-0 0 silent -", "pg-1 1 silent -", "pg-2 2 stopped 0/7000000", "pg-3 3 stopped 0/7000010",
                         "pg-4 4 stopped 0/7000000"], "take"),
]


@pytest.mark.parametrize("self_,holder,need,rows,expected", ELECTIONS)
def test_only_the_most_advanced_of_enough_stopped_members_takes_the_lease(self_, holder, need, rows, expected):
    assert verdict(self_, holder, need, *rows) == expected


def test_exactly_one_member_takes_the_lease_whatever_order_they_decide_in():
    rows = ["pg-0 0 silent -", "pg-1 1 stopped 0/5000000", "pg-2 2 stopped 0/5000000", "pg-3 3 stopped 0/4FFFFFF",
            "pg-4 4 stopped 0/5000000"]
    takers = [p for p in ("pg-1", "pg-2", "pg-3", "pg-4") if verdict(p, "pg-0", 3, *rows) == "take"]
    assert takers == ["pg-1"]
    for rotated in (rows[2:] + rows[:2], list(reversed(rows))):
        assert [p for p in ("pg-1", "pg-2", "pg-3", "pg-4") if verdict(p, "pg-0", 3, *rotated) == "take"] == ["pg-1"]


HISTORY_3 = "1\t0/3000060\tno recovery target specified\n2\t0/5000100\tno recovery target specified\n"
PLANS = [
    # same timeline: a prefix of the primary's WAL streams; anything past it was never replicated
    ("2", "0/5000000", "2", "0/6000000", "", "stream"),
    ("2", "0/6000000", "2", "0/6000000", "", "stream"),
    ("2", "0/6000010", "2", "0/6000000", "", "rewind ahead of the primary on timeline 2 (0/6000010 > 0/6000000)"),
    # an older timeline: fine up to the point the primary's lineage left it
    ("1", "0/3000060", "3", "0/9000000", HISTORY_3, "stream"),
    ("1", "0/3000000", "3", "0/9000000", HISTORY_3, "stream"),
    ("2", "0/5000100", "3", "0/9000000", HISTORY_3, "stream"),
    # an old primary that committed past the switch (unacknowledged: its quorum never had it)
    ("2", "0/5000200", "3", "0/9000000", HISTORY_3,
     "rewind past the switch from timeline 2 at 0/5000100 (at 0/5000200)"),
    ("1", "0/3000100", "3", "0/9000000", HISTORY_3,
     "rewind past the switch from timeline 1 at 0/3000060 (at 0/3000100)"),
    # a timeline the primary never had (another branch), or newer than its own
    ("4", "0/1", "3", "0/9000000", HISTORY_3, "rewind on timeline 4, newer than the primary's 3"),
    ("2", "0/1", "3", "0/9000000", "1\t0/3000060\tx\n", "rewind: timeline 2 is not in the primary's history"),
]


@pytest.mark.parametrize("tli,lsn,ptli,plsn,history,expected", PLANS)
def test_a_member_streams_only_when_its_wal_is_a_prefix_of_the_primary_s(tli, lsn, ptli, plsn, history, expected):
    assert call("follow_plan", tli, lsn, ptli, plsn, history) == (0, expected)


@pytest.mark.parametrize("now,renewed,fence,due", [(10_000, 4_000, 5_000, True), (9_000, 4_000, 5_000, True),
                                                   (8_999, 4_000, 5_000, False)])
def test_a_primary_fences_itself_once_its_renewal_is_fence_ms_old(now, renewed, fence, due):
    assert call("fence_due", str(now), str(renewed), str(fence))[0] == (0 if due else 1)


@pytest.mark.parametrize("triples,expected", [
    # the chart lowered max_connections below the primary's last value: the primary's
    (["max_connections", "200", "201"], "-c max_connections=201"),
    # the chart's value at or above the primary's: nothing raised
    (["max_connections", "201", "201"], ""), (["max_connections", "300", "201"], ""),
    # several settings, only those below raised; numbers compare as numbers
    (["max_connections", "100", "99", "max_wal_senders", "9", "20", "max_locks_per_transaction", "64", "64"],
     "-c max_wal_senders=20"),
    # a value that could not be read (a fresh directory, a setting the server does not know) is left alone
    (["max_connections", "", "201"], ""), (["max_connections", "200", ""], ""),
    (["max_prepared_transactions", "0", "x1"], ""),
])
def test_a_standby_starts_with_no_setting_below_its_primary_s(triples, expected):
    assert call("standby_floor", *triples) == (0, expected)


@pytest.mark.parametrize("streaming,members,expected", [
    # every other member streams from the primary: it keeps taking writes while the API is away
    ("pg-1 pg-2", ["pg-1", "pg-2"], "keep"), ("pg-2 pg-1", ["pg-1", "pg-2"], "keep"),
    # one stopped receiving (it elects, or it is cut off): the primary stops
    ("pg-1", ["pg-1", "pg-2"], "fence pg-2"), ("", ["pg-1", "pg-2"], "fence pg-1 pg-2"),
    # a name that merely contains a member's name is not that member
    ("pg-10 pg-2", ["pg-1", "pg-2"], "fence pg-1"),
    # five members: all four others needed, extra names (a removed member's) do not count
    ("pg-0 pg-1 pg-3 pg-9", ["pg-0", "pg-1", "pg-3", "pg-4"], "fence pg-4"),
    # a single member has nobody to ask and nobody who could take over
    ("", [], "keep"),
])
def test_a_primary_without_the_api_stays_one_only_while_every_other_member_streams_from_it(streaming, members,
                                                                                          expected):
    assert call("failsafe_verdict", streaming, *members) == (0, expected)
