"""`framepipe process IN OUT [--format F]`: the single-process loop writes every kind of output
format. The format comes from --format or from OUT's extension (else MP4); ffprobe checks the
container, the codecs and, for video, the frame count. An audio format decodes no video (an audio
file without any works). An unknown format, a filter chain for an audio format and an input without
audio for an audio format are refused with exit 1 and a message naming the choices, and leave no
file behind. Small inputs: the whole test takes a few seconds.
Usage: test_process_formats.py path/to/framepipe
"""
import json
import os
import subprocess

from cluster import FRAMEPIPE, generate, main, probe_frames, workdir

WORK = workdir('framepipe-process-formats-')
FRAMES = 25
CLIP = generate(os.path.join(WORK, 'clip.mp4'), 'testsrc=size=320x240:rate=25', seconds=1)
SILENT = generate(os.path.join(WORK, 'silent.mp4'), 'testsrc=size=320x240:rate=25', seconds=1,
                  audio=None)


def audio_file(name, *codec):
    path = os.path.join(WORK, name)
    subprocess.run(['ffmpeg', '-v', 'error', '-y', '-f', 'lavfi', '-i',
                    'sine=frequency=440:sample_rate=44100', '-t', '1', '-ac', '2', *codec, path],
                   check=True)
    return path


def process(source, dest, *options):
    return subprocess.run([FRAMEPIPE, 'process', source, dest, *options], capture_output=True,
                          text=True, timeout=120)


def streams_and_format(path):
    out = subprocess.run(['ffprobe', '-v', 'error', '-show_entries',
                          'format=format_name,duration:stream=codec_type,codec_name', '-of',
                          'json', path], capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    codecs = {stream['codec_type']: stream['codec_name'] for stream in info['streams']}
    return codecs, info['format']


def convert(source, name, *options):
    dest = os.path.join(WORK, name)
    result = process(source, dest, *options)
    assert result.returncode == 0, f'{name}: exit {result.returncode}\n{result.stderr}'
    return dest, result.stdout


def test_video_formats():
    # (output name, options, ffprobe's format_name, video codec, audio codec): WebM and MOV named
    # by the extension (any case), Matroska by --format into a name that says nothing. The source's
    # AAC is kept where the container holds it; WebM's audio is Opus.
    cases = [
        ('out.webm', (), 'matroska,webm', 'vp9', 'opus'),
        ('out.MOV', (), 'mov,mp4,m4a,3gp,3g2,mj2', 'h264', 'aac'),
        ('out.bin', ('--format', 'mkv'), 'matroska,webm', 'h264', 'aac'),
        ('out.unknown', (), 'mov,mp4,m4a,3gp,3g2,mj2', 'h264', 'aac'),  # the default: MP4
    ]
    for name, options, container, video, audio in cases:
        path, output = convert(CLIP, name, *options)
        codecs, form = streams_and_format(path)
        assert form['format_name'] == container, (name, form)
        assert codecs == {'video': video, 'audio': audio}, (name, codecs)
        assert len(probe_frames(path)) == FRAMES, (name, len(probe_frames(path)))
        assert output.startswith(f'{FRAMES} frames in '), output
    _, output = convert(CLIP, 'again.webm')
    assert 'webm, audio: opus from aac' in output, output


def test_audio_formats():
    """The sound track alone: of a video (MP3 encoded from AAC), of an audio file (FLAC from Ogg
    Vorbis, which has no video stream to decode)."""
    for source, name, container, codec in [
            (CLIP, 'out.mp3', 'mp3', 'mp3'),
            (audio_file('in.ogg', '-c:a', 'libvorbis'), 'from-ogg.flac', 'flac', 'flac')]:
        path, output = convert(source, name)
        codecs, form = streams_and_format(path)
        assert form['format_name'] == container, (name, form)
        assert codecs == {'audio': codec}, (name, codecs)
        assert 0.9 < float(form['duration']) < 1.2, (name, form)
        assert output.startswith('0 frames in '), output
        assert f'{container}, audio: {codec} from ' in output, output


def test_refusals():
    cases = [
        (CLIP, 'bad.mp4', ('--format', 'mpeg2'), 'unknown format "mpeg2"'),
        (CLIP, 'blurred.mp3', ('--filters', 'blur=sigma=2'), 'audio only'),
        (SILENT, 'silent.wav', (), 'no audio track'),
    ]
    for source, name, options, expected in cases:
        dest = os.path.join(WORK, name)
        result = process(source, dest, *options)
        output = result.stdout + result.stderr
        assert result.returncode == 1, f'{name}: exit {result.returncode}\n{output}'
        assert expected in output, f'{name}: {expected!r} not in {output!r}'
        assert 'webm' in output, f'{name}: the choices are not named: {output!r}'
        assert not os.path.exists(dest), f'{name} was written'


if __name__ == '__main__':
    main([test_video_formats, test_audio_formats, test_refusals])
