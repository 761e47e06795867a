"""Bad input gets a clear error and the cluster keeps serving."""
import os
import random

from cluster import workdir, Cluster, check_same_timing, generate, main

WORK = workdir('framepipe-bad-')
GOOD = generate(os.path.join(WORK, 'good.mp4'), seconds=2)
GARBAGE = os.path.join(WORK, 'garbage.mp4')
with open(GARBAGE, 'wb') as f:
    f.write(random.Random(7).randbytes(100_000))
EMPTY = os.path.join(WORK, 'empty.mp4')
open(EMPTY, 'wb').close()
TRUNCATED = os.path.join(WORK, 'truncated.mp4')
with open(GOOD, 'rb') as src, open(TRUNCATED, 'wb') as dst:
    dst.write(src.read()[:3000])
AUDIO_ONLY = generate(os.path.join(WORK, 'audio.m4a'), video='sine=frequency=300', audio=None,
                      codec=('-c:a', 'aac'))
PLAYLIST = os.path.join(WORK, 'playlist.mp4')
with open(PLAYLIST, 'w') as f:
    f.write(f'#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{GOOD}\n#EXT-X-ENDLIST\n')

with Cluster(workers=1) as cluster:
    def test_bad_chains_are_refused_with_400():
        for chain, words in (('nosuchfilter', 'valid filters'), ('blur=sigma=abc', 'number'),
                             ('blur=nosuchparam=2', 'sigma'), ('rotate=45', '90')):
            code, body = cluster.submit(GOOD, chain)
            assert code == 400, (chain, code, body)
            assert words in body['error'], (chain, body)

    def test_missing_or_empty_file_is_refused():
        code, body = cluster.submit(None, 'grayscale')
        assert code == 400 and body['error'], body
        code, body = cluster.submit(EMPTY, 'grayscale')
        assert code == 400 and body['error'], body

    def test_undecodable_files_fail_with_a_reason():
        for path in (GARBAGE, TRUNCATED, AUDIO_ONLY, PLAYLIST):
            code, body = cluster.submit(path, 'grayscale')
            if code // 100 == 4:
                assert body['error'], body
                continue
            assert code == 201, body
            final = cluster.wait_job(body['id'], 60)
            assert final['state'] == 'failed' and final['error'], (path, final)

    def test_hostile_file_names_never_become_paths():
        code, body = cluster.submit(GOOD, 'copy', filename='../../etc/passwd; rm -rf $(pwd).mp4')
        assert code == 201, body
        final = cluster.wait_job(body['id'])
        assert final['state'] == 'done', final
        assert not os.path.exists(os.path.join(cluster.dir, 'etc'))

    def test_unknown_job_is_a_json_404():
        code, body = cluster.json('/api/jobs/no-such-job')
        assert code == 404 and body['error'], body

    def test_still_serving_after_bad_input():
        out = cluster.process(GOOD, 'grayscale', WORK)
        check_same_timing(GOOD, out)

    main([test_bad_chains_are_refused_with_400, test_missing_or_empty_file_is_refused,
          test_undecodable_files_fail_with_a_reason, test_hostile_file_names_never_become_paths,
          test_unknown_job_is_a_json_404, test_still_serving_after_bad_input])
