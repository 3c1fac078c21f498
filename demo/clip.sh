#!/bin/sh
# Makes clip.flv, the built-in demo stream: 9.6 s of 1280x720 30 fps H.264
# (no B-frames, a keyframe every second) and 48 kHz stereo AAC. 9.6 s is a
# whole number of video frames (288) and of AAC frames (450), so the clip
# loops with no drift between audio and video.
set -eu
cd "$(dirname "$0")"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=30" \
  -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000" \
  -t 9.6 -map 0:v -map 1:a \
  -c:v libx264 -preset veryfast -tune zerolatency -profile:v main -level 3.1 \
  -b:v 1200k -maxrate 1500k -bufsize 1500k -g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p \
  -c:a aac -b:a 96k -ac 2 \
  -metadata comment="Liveloop demo" -f flv clip.flv
