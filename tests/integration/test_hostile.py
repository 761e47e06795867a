"""Garbage on every ZeroMQ socket of the head crashes nothing and loses nothing: after thousands of
hostile messages (and four above the sockets' size limit) the same roles are still running, none
grew to hold an oversized message, a good job comes out right, and the log holds a few lines about
it, not thousands. The other way round, a worker dealt lying frames by a hostile
head refuses each one and still filters the honest frame that follows; dealt lying segments, it
refuses each one (or fails it cleanly while decoding) and still transcodes the honest segment that
follows."""
import os
import signal
import subprocess
import sys

from cluster import (FRAMEPIPE, Cluster, check_same_timing, free_port_range, generate, main,
                     peak_memory_kib, workdir)

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
        # It posed as the cluster's worker: the registry refused heartbeats from another peer.
        assert 'a heartbeat naming worker' in text, 'the registry took a heartbeat from an impostor'
        # 4 messages of 258 MiB were sent: a socket without its size limit would have taken one.
        for pid in before:
            peak_kib = peak_memory_kib(pid)
            assert peak_kib < 200 * 1024, f'pid {pid} peaked at {peak_kib >> 10} MiB'
        lines = text.count('discarded')
        assert lines < 150, f'{lines} log lines about about 3600 hostile messages: not rate-limited'
        print(f'      {lines} log lines about the hostile messages')

    def test_worker_refuses_lying_frames():
        base = free_port_range(3)
        head = subprocess.Popen([HOSTILE, 'head', str(base)], stdout=subprocess.PIPE, text=True)
        log_path = os.path.join(WORK, 'worker.log')
        with open(log_path, 'w') as log:
            worker = subprocess.Popen([FRAMEPIPE, 'worker', f'tcp://127.0.0.1:{base}'],
                                      stdout=log, stderr=subprocess.STDOUT)
        try:
            out, _ = head.communicate(timeout=90)
            print('      ' + out.strip())
            assert head.returncode == 0, 'the worker did not filter the honest frame after the lies'
            assert worker.poll() is None, 'the worker died'
        finally:
            head.kill()
            worker.send_signal(signal.SIGTERM)
            worker.wait(10)
        with open(log_path) as f:
            text = f.read()
        assert 'discarded a message: a frame message' in text, text[-2000:]

    def test_worker_refuses_lying_segments():
        # Keyframes a second apart: the first segment is one second of H.264 (with x264's default
        # B-frames).
        clip = generate(os.path.join(WORK, 'segments.mp4'), seconds=2, audio=None,
                        codec=('-c:v', 'libx264', '-preset', 'veryfast', '-g', '25',
                               '-pix_fmt', 'yuv420p'))
        base = free_port_range(3)
        head = subprocess.Popen([HOSTILE, 'segments', str(base), clip], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        log_path = os.path.join(WORK, 'segments-worker.log')
        with open(log_path, 'w') as log:
            worker = subprocess.Popen([FRAMEPIPE, 'worker', f'tcp://127.0.0.1:{base}'],
                                      stdout=log, stderr=subprocess.STDOUT)
        err = ''
        try:
            out, err = head.communicate(timeout=120)
            print('      ' + out.strip())
            if err.strip():
                print('      ' + err.strip())
            assert head.returncode == 0, \
                'the worker took a lying segment or did not transcode the honest one after the lies'
            assert worker.poll() is None, 'the worker died'
        finally:
            head.kill()
            worker.send_signal(signal.SIGTERM)
            worker.wait(10)
        with open(log_path) as f:
            text = f.read()
        # The worker's log lines about peers are rate-limited: the first lies are in it, not all.
        assert 'discarded a message: a segment message: segment' in text, text[-2000:]
        # The garbage packets (the first lie, index 1000) were decoded: every picture damaged, so
        # no frame (as the whole file's decoder would give none), or an error.
        assert ('job hostile-segments segment 1000:' in text or
                'garbage bytes as packets, with a valid description (0 frames)' in err), err
        assert worker.returncode == 0, f'the worker exited with {worker.returncode} on SIGTERM'

    main([test_garbage_on_every_socket_breaks_nothing, test_worker_refuses_lying_frames,
          test_worker_refuses_lying_segments])
