"""One stuck machine cannot hold a job hostage.

- A worker frozen mid-job (SIGSTOP: its process and sockets still exist, it just stops answering)
  is declared dead by the registry from its missing heartbeats, and its frames go to the others;
  the job finishes while it is still frozen. Thawed, it joins again by itself.
- A worker that keeps heartbeating but never answers the frames it took (fault injection
  FRAMEPIPE_FAULT=hold-frames, like a worker whose results cannot leave) stays registered: only
  the ventilator's re-send deadline gets its frames back. The same worker dealt a segment never
  says it progresses, and loses the segment after the same deadline, not after the minutes a
  whole segment may take.
Both outputs are identical, frame for frame, to an undisturbed run.
"""
import os
import signal
import time

from cluster import (LOSSLESS, Cluster, check_same_timing, frame_hashes, generate, main, run_locally,
                     wait_for, workdir)

WORK = workdir('framepipe-stall-')
SOURCE = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=320x240:rate=30', seconds=10)
CHAIN = 'blur=sigma=2'
REFERENCE = frame_hashes(run_locally(SOURCE, CHAIN, os.path.join(WORK, 'reference.mp4'),
                                      LOSSLESS))
RESEND_AFTER_MS = 2000


def names(cluster):
    return {w.get('name') for w in cluster.workers_list()}


def log_lines(cluster, text):
    with open(os.path.join(cluster.dir, 'up.log')) as f:
        return [line for line in f if text in line]


with Cluster(workers=0, extra=['--resend-after-ms', str(RESEND_AFTER_MS)]) as cluster:
    def test_frozen_worker_is_replaced_and_rejoins():
        steady = cluster.start_worker('--name', 'steady')
        frozen = cluster.start_worker('--name', 'frozen')
        wait_for(lambda: {'steady', 'frozen'} <= names(cluster), 20, 'both workers')
        code, job = cluster.submit(SOURCE, CHAIN, LOSSLESS)
        assert code == 201, job
        wait_for(lambda: cluster.json(f"/api/jobs/{job['id']}")[1]['frames_done'] > 30, 60,
                 'the job to make progress')
        frozen.send_signal(signal.SIGSTOP)
        try:
            final = cluster.wait_job(job['id'], 120)
            assert final['state'] == 'done', final
            assert frozen.poll() is None, 'the frozen worker should still exist'
            # The job may end before the registry's 3 missed heartbeats when the re-send deadline
            # (2 s here) got the frozen worker's frames back first.
            wait_for(lambda: 'frozen' not in names(cluster), 15,
                     'the registry to declare the frozen worker dead')
        finally:
            frozen.send_signal(signal.SIGCONT)
        out = cluster.result(job['id'], os.path.join(WORK, 'frozen.mp4'))
        check_same_timing(SOURCE, out)
        assert frame_hashes(out) == REFERENCE, 'frames differ from an undisturbed run'
        wait_for(lambda: 'frozen' in names(cluster), 30, 'the thawed worker to join again')
        steady.send_signal(signal.SIGTERM)
        steady.wait(10)
        wait_for(lambda: 'steady' not in names(cluster), 20, 'the steady worker to leave')
        code, job = cluster.submit(SOURCE, CHAIN, LOSSLESS)
        assert code == 201, job
        final = cluster.wait_job(job['id'], 120)
        assert final['state'] == 'done', f'the thawed worker alone did not finish a job: {final}'
        frozen.send_signal(signal.SIGTERM)
        frozen.wait(10)

    def test_worker_holding_frames_loses_them_at_the_deadline():
        holder = cluster.start_worker('--name', 'holder', env={'FRAMEPIPE_FAULT': 'hold-frames'})
        wait_for(lambda: 'holder' in names(cluster), 20, 'the holding worker')
        honest = cluster.start_worker('--name', 'honest')
        wait_for(lambda: 'honest' in names(cluster), 20, 'the honest worker')
        before = len(log_lines(cluster, 'held by holder'))
        # The frame deadline is what this tests: left to choose, the head may deal segments when the
        # workers outrun its encoder on this machine, and a segment's deadline is minutes long.
        code, job = cluster.submit(SOURCE, CHAIN, {**LOSSLESS, 'distribution': 'frames'})
        assert code == 201, job
        final = cluster.wait_job(job['id'], 120)
        assert final['state'] == 'done', final
        assert final['distribution']['mode'] == 'frames', final['distribution']
        resent = len(log_lines(cluster, 'held by holder')) - before
        assert resent >= 1, 'no frame was taken back from the holding worker'
        assert 'holder' in names(cluster), \
            'the holding worker was dropped: the deadline, not its death, should have saved the job'
        assert holder.poll() is None
        out = cluster.result(job['id'], os.path.join(WORK, 'held.mp4'))
        assert frame_hashes(out) == REFERENCE, 'frames differ from an undisturbed run'
        print(f'      {resent} frame(s) taken back from the holding worker')
        for worker in (holder, honest):
            worker.send_signal(signal.SIGTERM)
            worker.wait(10)

    def test_worker_holding_a_segment_loses_it_without_progress():
        # A segment may take minutes as a whole, but a worker transcoding one says several times a
        # second that it progresses; this one heartbeats and says nothing. Alone at first, it is
        # dealt the segments; an honest worker joins once they are out.
        wait_for(lambda: not {'holder', 'honest'} & names(cluster), 20, 'the workers to leave')
        holder = cluster.start_worker('--name', 'segment-holder',
                                      env={'FRAMEPIPE_FAULT': 'hold-frames'})
        wait_for(lambda: 'segment-holder' in names(cluster), 20, 'the holding worker')
        before = len(log_lines(cluster, 'without progress'))
        started = time.time()
        code, job = cluster.submit(SOURCE, CHAIN, {**LOSSLESS, 'distribution': 'segments'})
        assert code == 201, job
        wait_for(lambda: cluster.json(f"/api/jobs/{job['id']}")[1]['state'] == 'running', 30,
                 'the job to start')
        honest = cluster.start_worker('--name', 'segment-honest')
        final = cluster.wait_job(job['id'], 120)
        assert final['state'] == 'done', final
        assert final['distribution']['mode'] == 'segments', final['distribution']
        taken = [line for line in log_lines(cluster, 'without progress')[before:]
                 if 'held by segment-holder' in line]
        assert taken, 'no segment was taken back from the holding worker'
        assert 'segment-holder' in names(cluster), 'the holding worker was dropped'
        assert holder.poll() is None and honest.poll() is None
        out = cluster.result(job['id'], os.path.join(WORK, 'held-segment.mp4'))
        check_same_timing(SOURCE, out)
        assert frame_hashes(out) == REFERENCE, 'frames differ from an undisturbed run'
        print(f'      {len(taken)} segment(s) taken back from the holding worker; the job took '
              f'{time.time() - started:.1f} s')

    main([test_frozen_worker_is_replaced_and_rejoins,
          test_worker_holding_frames_loses_them_at_the_deadline,
          test_worker_holding_a_segment_loses_it_without_progress])
