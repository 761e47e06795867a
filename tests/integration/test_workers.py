"""Two workers share one job: both report frames done, and the worker list has their stats."""
import os

from cluster import workdir, Cluster, check_same_timing, generate, main, wait_for

WORK = workdir('framepipe-workers-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=25', seconds=6)
FRAMES = 6 * 25

with Cluster(workers=2) as cluster:
    def test_both_workers_do_work():
        out = cluster.process(SOURCE, 'blur=sigma=3', WORK)
        check_same_timing(SOURCE, out)
        # Workers report frames_done in their heartbeats (one a second), so the list can be a
        # heartbeat behind the job's end: wait, bounded, for it to count all 150 frames.
        workers = []
        def all_frames_reported():
            workers[:] = cluster.workers_list()
            return sum(w['frames_done'] for w in workers) >= FRAMES
        try:
            wait_for(all_frames_reported, 10, f'the workers\' stats to count {FRAMES} frames')
        except AssertionError as timeout:
            raise AssertionError(f'{timeout}: {workers}') from None
        assert len(workers) == 2, workers
        busy = [w for w in workers if w['frames_done'] > 0]
        assert len(busy) == 2, f'only {len(busy)} of 2 workers did work: {workers}'

    def test_worker_list_has_stats():
        for w in cluster.workers_list():
            for field in ('name', 'host', 'pid', 'state', 'frames_done', 'fps', 'cpu_percent',
                          'rss_bytes', 'last_heartbeat_ms_ago'):
                assert field in w, (field, w)
            assert w['rss_bytes'] > 1_000_000, w
            assert w['last_heartbeat_ms_ago'] < 3000, w

    def test_a_dead_worker_leaves_the_list():
        extra = cluster.start_worker('--name', 'short-lived')
        wait_for(lambda: any(w['name'] == 'short-lived' for w in cluster.workers_list()), 15,
                 'the extra worker to register')
        extra.kill()
        wait_for(lambda: all(w['name'] != 'short-lived' for w in cluster.workers_list()), 10,
                 'the killed worker to leave the list')

    main([test_both_workers_do_work, test_worker_list_has_stats, test_a_dead_worker_leaves_the_list])
