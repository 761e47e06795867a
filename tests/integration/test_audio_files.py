"""Audio files as input, through a real cluster with no worker: MP3, FLAC, WAV, AAC (ADTS), M4A,
Ogg Vorbis and Opus uploads become audio formats at the head (copied when the format holds the
codec, encoded otherwise). Lossless results (FLAC, WAV) hold exactly the samples ffmpeg decodes
from the input. A video format or a filter chain from an audio file is refused with a 400 that
says why, and leaves no job behind."""
import json
import os
import subprocess

from cluster import Cluster, generate, main, wait_for, workdir

WORK = workdir('framepipe-audio-')
SINE = 'sine=frequency=440:sample_rate=44100'


def make(name, *codec):
    path = os.path.join(WORK, name)
    subprocess.run(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i', SINE, '-t', '3', '-ac', '2',
                    *codec, path], check=True)
    return path


INPUTS = {  # file: (format asked, codec of the result)
    make('in.mp3', '-c:a', 'libmp3lame'): ('flac', 'flac'),
    make('in.flac', '-c:a', 'flac'): ('wav', 'pcm_s16le'),
    make('in.wav', '-c:a', 'pcm_s16le'): ('mp3', 'mp3'),
    make('in.aac', '-c:a', 'aac'): ('aac', 'aac'),
    make('in.m4a', '-c:a', 'aac'): ('ogg', 'vorbis'),
    make('in.ogg', '-c:a', 'libvorbis'): ('ogg', 'vorbis'),
    make('in.opus', '-c:a', 'libopus'): ('mp3', 'mp3'),
}
CLIP = generate(os.path.join(WORK, 'clip.mp4'), seconds=2)


def samples(path):
    """The samples ffmpeg decodes, signed 16-bit."""
    return subprocess.run(['ffmpeg', '-v', 'error', '-i', path, '-map', '0:a', '-f', 's16le', '-'],
                          capture_output=True, check=True).stdout


def stream(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-select_streams', 'a:0', '-show_entries',
                          'stream=codec_name:format=duration', '-of', 'json', path],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    return info['streams'][0]['codec_name'], float(info['format']['duration'])


with Cluster(workers=0) as cluster:
    def convert(source, format_name, filters='copy'):
        code, job = cluster.submit(source, filters, {'format': format_name})
        assert code == 201, (source, code, job)
        final = cluster.wait_job(job['id'])
        assert final['state'] == 'done', final
        return cluster.result(job['id'], os.path.join(WORK, f"{job['id']}.{format_name}")), final

    def test_every_audio_file_becomes_an_audio_format():
        for source, (format_name, codec) in INPUTS.items():
            out, final = convert(source, format_name)
            assert final['distribution']['mode'] == 'copied', final
            got, seconds = stream(out)
            assert got == codec, (source, format_name, got)
            assert abs(seconds - 3) < 0.1, (source, format_name, seconds)

    def test_lossless_results_are_sample_exact():
        flac = next(path for path in INPUTS if path.endswith('.flac'))
        mp3 = next(path for path in INPUTS if path.endswith('.mp3'))
        for source, format_name in ((flac, 'wav'), (mp3, 'flac'), (flac, 'flac')):
            out, _ = convert(source, format_name)
            expected = samples(source)
            assert samples(out) == expected, f'{source} -> {format_name}: samples differ'
            print(f'  {os.path.basename(source)} -> {format_name}: {len(expected) // 4} samples '
                  f'per channel, identical')

    def test_copied_when_the_format_holds_the_codec():
        mp3 = next(path for path in INPUTS if path.endswith('.mp3'))
        _, final = convert(mp3, 'mp3')
        assert 'copied, not re-encoded' in final['distribution']['why'], final
        # No picture in it: no poster, tried once (a marker says so), never asked again.
        directory = os.path.join(cluster.data_dir, 'jobs', final['id'])
        wait_for(lambda: os.path.exists(os.path.join(directory, 'poster.none')), 20,
                 'the poster to be tried')
        status, _ = cluster.json(f"/api/jobs/{final['id']}/poster")
        assert status == 404 and not os.path.exists(os.path.join(directory, 'poster.jpg'))

    def test_a_video_sound_track_goes_at_the_head_too():
        _, final = convert(CLIP, 'mp3')
        assert final['distribution']['mode'] == 'copied', final
        assert 'encoded to libmp3lame' in final['distribution']['why'], final

    def test_video_formats_and_filters_are_refused():
        mp3 = next(path for path in INPUTS if path.endswith('.mp3'))
        _, before = cluster.json('/api/jobs')
        for format_name, filters, words in (('mp4', 'copy', ('audio file', 'mp3, flac')),
                                            ('mkv', 'grayscale', ('audio file', 'mp3, flac')),
                                            ('mp3', 'grayscale', ('audio only', '"copy"'))):
            code, body = cluster.submit(mp3, filters, {'format': format_name})
            assert code == 400, (format_name, filters, code, body)
            assert all(word in body['error'] for word in words), body
        _, after = cluster.json('/api/jobs')
        assert len(after) == len(before), 'a refused upload left a job behind'

    main([test_every_audio_file_becomes_an_audio_format, test_lossless_results_are_sample_exact,
          test_copied_when_the_format_holds_the_codec, test_a_video_sound_track_goes_at_the_head_too,
          test_video_formats_and_filters_are_refused])
