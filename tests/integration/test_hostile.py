"""Garbage on every ZeroMQ socket of the head crashes nothing and loses nothing: after thousands of
hostile messages the same roles are still running and a good job comes out right."""
import os
import subprocess
import sys

from cluster import Cluster, check_same_timing, generate, main, workdir

HOSTILE = sys.argv[2]
WORK = workdir('framepipe-hostile-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), seconds=2)


def role_pids(cluster):
    out = subprocess.run(['pgrep', '-g', str(cluster.proc.pid), '-f', 'framepipe '],
                         capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


with Cluster(workers=1) as cluster:
    def test_garbage_on_every_socket_breaks_nothing():
        before = role_pids(cluster)
        subprocess.run([HOSTILE, str(cluster.base), '300'], check=True, timeout=120)
        out = cluster.process(SOURCE, 'grayscale', WORK)
        check_same_timing(SOURCE, out)
        assert role_pids(cluster) == before, 'a role died (and was restarted) under hostile input'
        with open(os.path.join(cluster.dir, 'up.log')) as log:
            text = log.read()
        assert 'discarded' in text, 'hostile messages were not noticed in the log'
        assert 'restarting it' not in text, 'a role crashed'

    main([test_garbage_on_every_socket_breaks_nothing])
