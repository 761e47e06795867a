"""Frames flow at the encoder's pace, not at the pace of progress reports: with a window of only
two frames in flight, 800 small frames would take 100 s if window slots were freed only by
the sink's progress reports (2 frames per 250 ms); with the sink's prompt FramesEncoded
acknowledgements it takes seconds. The bound below is ten times what the job needs on a loaded
2-core machine and a quarter of what the old pace needs, so it tells the two apart without timing
anything finely (the speed itself is measured by the bench)."""
import os
import time

from cluster import Cluster, check_same_timing, generate, main, workdir

WORK = workdir('framepipe-flow-')
# 800 frames: 8 fps (two frames per progress report) would need 100 s.
SOURCE = generate(os.path.join(WORK, 'small.mp4'), 'testsrc2=size=160x120:rate=50', seconds=16)
BOUND_SECONDS = 25

with Cluster(workers=1, extra=['--window', '2']) as cluster:
    def run_within_bound(chain):
        started = time.monotonic()
        # Dealt as frames: with `auto` a copy job of an H.264 source is a container change.
        out = cluster.process(SOURCE, chain, WORK, {'distribution': 'frames'})
        elapsed = time.monotonic() - started
        check_same_timing(SOURCE, out)
        assert elapsed < BOUND_SECONDS, (
            f'{chain}: 800 frames through a 2-frame window took {elapsed:.1f} s: window slots '
            f'seem to be freed at the pace of progress reports')

    def test_straight_to_the_sink():
        run_within_bound('copy')

    def test_through_a_worker():
        run_within_bound('grayscale')

    main([test_straight_to_the_sink, test_through_a_worker])
