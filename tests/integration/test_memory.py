"""Memory comes back after a burst: 12 jobs submitted at once (640x360, 3 s, with audio), and
within a few seconds of the last one finishing the sink is back near its size before the burst.

Frames are kept in the heap while jobs run (app/runtime.cpp raises glibc's trim threshold so that
freed frames are reused); the sink and the ventilator give that heap back once they have had no
job for protocol::kIdleTrimMs (1.5 s). Without that, the sink stayed at its peak for ever.
"""
import os
import time

from cluster import Cluster, all_at_once, generate, main, peak_memory_kib, wait_for, workdir

WORK = workdir('framepipe-memory-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=25', seconds=3)
JOBS = 12
MARGIN_MIB = 60     # above the size before the burst: code and caches touched by the jobs
SETTLE_SECONDS = 8  # after the last job: the 1.5 s idle time, with slack for a loaded machine


def resident_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS:'))


def mib(kib):
    return kib / 1024


with Cluster(workers=2) as cluster:
    def test_sink_memory_comes_back_after_a_burst():
        sink, = cluster.role_pids('sink')
        ventilator, = cluster.role_pids('ventilator')
        before = {pid: resident_kib(pid) for pid in (sink, ventilator)}

        results = all_at_once(JOBS, lambda _: cluster.submit(
            SOURCE, 'grayscale', {'distribution': 'frames', 'preset': 'veryfast'}))
        for code, job in results:
            assert code == 201, job
        for _, job in results:
            final = cluster.wait_job(job['id'], 120)
            assert final['state'] == 'done', final
        finished = time.time()
        peak = {pid: peak_memory_kib(pid) for pid in (sink, ventilator)}

        limit = before[sink] + MARGIN_MIB * 1024
        try:
            wait_for(lambda: resident_kib(sink) < limit, SETTLE_SECONDS,
                     f'the sink to come back under {mib(limit):.0f} MiB')
        finally:
            after = {pid: resident_kib(pid) for pid in (sink, ventilator)}
            for role, pid in (('sink', sink), ('ventilator', ventilator)):
                print(f'      {role}: {mib(before[pid]):.0f} MiB before, peak {mib(peak[pid]):.0f} '
                      f'MiB, {mib(after[pid]):.0f} MiB {time.time() - finished:.1f} s after the '
                      f'last job')
        assert after[sink] < before[sink] + (peak[sink] - before[sink]) / 2, \
            'the sink kept most of its peak'

    main([test_sink_memory_comes_back_after_a_burst])
