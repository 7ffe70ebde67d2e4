"""A streaming session's buffers reach that session only (issue 15), with
the real pybela as the judge.

Found with pybela against a device program: a Streamer streams two dense
doubles for ~0.37 s, stops, disconnects, and a new Streamer at once starts
them again. Its first buffer was the previous session's partial buffer,
zero-padded (ref = the tick after the previous session's last buffer),
then a gap of hundreds of ticks: seen in about one run in three. The
unwatch reached the device's tick thread after the client had left, so
the stream waited with its partial buffer for the next client (fixed in
src/server/var.c, compat_buffer_value). The sequence runs 10 times: before
the fix, all 10 clean had a chance of about 2%.

And a buffer of a session that ended before a client connected never
reaches that client (src/server/fanout.c, fan_out_compat), even though the
Watcher protocol broadcasts data to every data socket.
"""



def test_a_new_streamer_never_gets_the_previous_sessions_buffer(device, run_scenario):
    r = run_scenario("session_leak", device.port, vars="frame_d,scaled", runs=10, timeout=150)
    problems = []
    for k, session in enumerate(r["sessions"]):
        for name, bufs in session.items():
            if name != "frame_d":
                continue
            if not bufs:
                problems.append(f"session {k}: no buffers")
                continue
            first = bufs[0]
            if first["first"] != first["ref_timestamp"] or first["n"] != 512:
                problems.append(f"session {k}: first buffer ref {first['ref_timestamp']} "
                                f"starts with {first['first']} ({first['n']} values)")
            if any(b["last"] == 0 for b in bufs):
                problems.append(f"session {k}: a zero-padded buffer passed as data")
            for a, b in zip(bufs, bufs[1:]):
                if b["ref_timestamp"] != a["ref_timestamp"] + a["n"]:
                    problems.append(f"session {k}: gap {a['ref_timestamp']} -> {b['ref_timestamp']}")
    assert not problems, "\n".join(problems)
    assert all(len(s["frame_d"]) >= 20 for s in r["sessions"])


def test_a_session_that_ended_before_a_client_came_does_not_reach_it(device, run_scenario):
    r = run_scenario("ended_session_buffer", device.port)
    assert r["trigger"] == [], ("the new Streamer got the ended session's padded buffer: "
                                f"{r['trigger'][0]['data'][:8]}...")
    assert r["frame_i_buffers"] >= 10
