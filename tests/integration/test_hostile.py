"""Garbage on every ZeroMQ socket of the head crashes nothing and loses nothing: after thousands of
hostile messages the same roles are still running and a good job comes out right."""
import os
import subprocess
import sys

from cluster import Cluster, check_same_timing, generate, main, workdir

HOSTILE = sys.argv[2]
WORK = workdir('framepipe-hostile-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), seconds=2)


with Cluster(workers=1) as cluster:
    def test_garbage_on_every_socket_breaks_nothing():
        before = cluster.role_pids()
        subprocess.run([HOSTILE, str(cluster.base), '300'], check=True, timeout=120)
        out = cluster.process(SOURCE, 'grayscale', WORK)
        check_same_timing(SOURCE, out)
        assert cluster.role_pids() == before, 'a role died (and was restarted) under hostile input'
        with open(os.path.join(cluster.dir, 'up.log')) as log:
            text = log.read()
        assert 'discarded' in text, 'hostile messages were not noticed in the log'
        assert 'restarting it' not in text, 'a role crashed'

    main([test_garbage_on_every_socket_breaks_nothing])
