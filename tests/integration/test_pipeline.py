"""End to end on one machine: uploads through HTTP, checks frames, timing, audio, and that the
cluster's frames equal the single-process loop's (same decoder, chain and encoder) exactly."""
import os
import subprocess

from cluster import (LOSSLESS, Cluster, check_same_timing, frame_hashes, generate, has_audio, main, probe,
                     probe_frames, run_locally, workdir)

WORK = workdir('framepipe-pipeline-')
MP4 = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=25', seconds=4)
VFR = generate(os.path.join(WORK, 'vfr.mkv'),
               "testsrc2=size=320x240:rate=30,select='not(eq(mod(n\\,5)\\,3))*not(eq(mod(n\\,7)\\,2))'",
               seconds=3, codec=('-fps_mode', 'vfr', '-c:v', 'libx264', '-preset', 'veryfast'),
               audio_codec=('-c:a', 'libvorbis'))
ANAMORPHIC = generate(os.path.join(WORK, 'anamorphic.mp4'),
                      'testsrc2=size=320x240:rate=25,setsar=4/3', seconds=2)  # shown 16:9
AVI = generate(os.path.join(WORK, 'in.avi'), 'testsrc=size=352x288:rate=25', seconds=2,
               codec=('-c:v', 'mpeg4', '-q:v', '4'), audio_codec=('-c:a', 'libmp3lame'))
# 30 frames/s in MP4 with a timescale of 30 (a 1/30 time base) and B-frames, the last shown frame's
# container timestamp damaged to repeat the one before: the decoder's timestamp does not increase.
TIMESCALE_30 = generate(os.path.join(WORK, 'timescale30.mp4'), 'testsrc2=size=320x240:rate=30',
                        seconds=2, codec=('-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2',
                                          '-video_track_timescale', '30'))
REPEATED_END = os.path.join(WORK, 'repeated_end.mp4')
subprocess.run(['ffmpeg', '-v', 'error', '-y', '-i', TIMESCALE_30, '-c', 'copy', '-bsf:v',
                'setts=pts=if(eq(PTS\\,59)\\,58\\,PTS)', '-video_track_timescale', '30',
                REPEATED_END], check=True)


def same_as_single_process(cluster, source, chain):
    out = cluster.process(source, chain, WORK, LOSSLESS)
    check_same_timing(source, out)
    assert has_audio(out), 'the audio track was lost'
    reference = run_locally(source, chain, os.path.join(WORK, 'reference.mp4'), LOSSLESS)
    assert frame_hashes(out) == frame_hashes(reference), \
        f"'{chain}': frames differ from the single-process loop"
    return out


with Cluster(workers=2) as cluster:
    def test_copy_keeps_every_frame_and_the_audio():
        same_as_single_process(cluster, MP4, 'copy')

    def test_grayscale_equals_single_process():
        same_as_single_process(cluster, MP4, 'grayscale')

    def test_blur_edges_equals_single_process():
        same_as_single_process(cluster, MP4, 'blur=sigma=2,edges')

    def test_scale_and_rotate_change_the_size():
        out = same_as_single_process(cluster, AVI, 'scale=width=176:height=-1,rotate=90')
        video = [s for s in probe(out)['streams'] if s['codec_type'] == 'video'][0]
        assert (video['width'], video['height']) == (144, 176), video

    def test_anamorphic_pixels_keep_their_shape():
        # What ffmpeg's scale and transpose write for the same input: resizing keeps the display
        # shape, a quarter turn inverts the pixel shape.
        for chain, size, sar, dar in (('grayscale', (320, 240), '4:3', '16:9'),
                                      ('rotate=angle=90', (240, 320), '3:4', '9:16'),
                                      ('scale=width=160:height=240', (160, 240), '8:3', '16:9')):
            out = same_as_single_process(cluster, ANAMORPHIC, chain)
            video = [s for s in probe(out)['streams'] if s['codec_type'] == 'video'][0]
            got = ((video['width'], video['height']), video.get('sample_aspect_ratio'),
                   video.get('display_aspect_ratio'))
            assert got == (size, sar, dar), f"'{chain}': {got}, want {(size, sar, dar)}"

    def test_variable_frame_rate_stays_variable_and_vorbis_becomes_aac():
        out = same_as_single_process(cluster, VFR, 'invert')
        audio = [s for s in probe(out)['streams'] if s['codec_type'] == 'audio'][0]
        assert audio['codec_name'] == 'aac', audio

    def test_a_repeated_timestamp_at_the_end_keeps_the_last_frame_in_place():
        # As ffmpeg -fps_mode passthrough: every frame within 1 ms of its own time. The repeat was
        # moved by a tick of the 1/30 time base, 33 ms, to the end of the previous frame.
        expected = probe_frames(REPEATED_END)
        assert len(expected) == 60 and expected[-1] == expected[-2], 'the damage is missing'
        out = cluster.process(REPEATED_END, 'grayscale', WORK, LOSSLESS)
        check_same_timing(REPEATED_END, out)
        local = run_locally(REPEATED_END, 'grayscale', os.path.join(WORK, 'repeated_end_local.mp4'),
                            LOSSLESS)
        assert frame_hashes(out) == frame_hashes(local), 'frames differ from the single-process loop'
        for result in (out, local):
            actual = probe_frames(result)
            assert len(actual) == len(expected), f'{len(actual)} frames out of {len(expected)}'
            worst = max(abs((a - expected[0]) - (b - actual[0])) for a, b in zip(expected, actual))
            assert worst <= 0.001, f'{result}: a frame is {worst * 1000:.1f} ms from its own time'

    def test_job_api_fields_and_range():
        code, job = cluster.submit(MP4, 'sepia')
        assert code == 201 and job['id'], job
        final = cluster.wait_job(job['id'])
        assert final['state'] == 'done', final
        for field in ('id', 'state', 'frames_done', 'frames_total', 'fps', 'error'):
            assert field in final, field
        assert final['frames_done'] == final['frames_total'] == 100, final
        code, body, headers = cluster.request('GET', f"/api/jobs/{job['id']}/result", None,
                                              {'Range': 'bytes=10-109'})
        assert code == 206 and len(body) == 100, (code, len(body))
        code, jobs = cluster.json('/api/jobs')
        assert code == 200 and any(j['id'] == job['id'] for j in jobs), jobs

    main([test_copy_keeps_every_frame_and_the_audio, test_grayscale_equals_single_process,
          test_blur_edges_equals_single_process, test_scale_and_rotate_change_the_size,
          test_anamorphic_pixels_keep_their_shape,
          test_variable_frame_rate_stays_variable_and_vorbis_becomes_aac,
          test_a_repeated_timestamp_at_the_end_keeps_the_last_frame_in_place,
          test_job_api_fields_and_range])
