package flv

import "fmt"

// Sound formats (E.4.2.1 SoundFormat).
const (
	SoundFormatMP3 uint8 = 2
	SoundFormatAAC uint8 = 10
	// SoundFormatExHeader marks an Enhanced RTMP v2 audio header; not supported.
	SoundFormatExHeader uint8 = 9
)

// AAC packet types (E.4.2.1 AACPacketType).
const (
	AACSequenceHeader uint8 = 0 // AudioSpecificConfig
	AACRaw            uint8 = 1 // one raw AAC frame
)

var soundFormatNames = [16]string{
	"linear PCM, platform endian", "ADPCM", "MP3", "linear PCM, little endian",
	"Nellymoser 16 kHz mono", "Nellymoser 8 kHz mono", "Nellymoser", "G.711 A-law",
	"G.711 mu-law", "extended header", "AAC", "Speex", "reserved", "reserved",
	"MP3 8 kHz", "device-specific",
}

// AudioTag is a parsed audio tag body.
//
//	+-------------+-----------+-----------+-----------+---------------+------
//	| SoundFormat | SoundRate | SoundSize | SoundType | AACPacketType | data
//	|   4 bits    |  2 bits   |  1 bit    |  1 bit    | UI8, AAC only |
//	+-------------+-----------+-----------+-----------+---------------+------
//
// For AAC the rate, size and type bits are fixed (3, 1, 1) and meaningless:
// the AudioSpecificConfig says what the stream is.
type AudioTag struct {
	SoundFormat uint8
	SoundRate   uint8 // 0 5.5 kHz, 1 11 kHz, 2 22 kHz, 3 44 kHz
	SoundSize   uint8 // 0 8-bit, 1 16-bit
	Stereo      bool
	// AACPacketType is AACSequenceHeader or AACRaw.
	AACPacketType uint8
	// Data aliases the body passed to ParseAudioTag.
	Data []byte
}

// ParseAudioTag parses an audio tag body (E.4.2.1). Only AAC is supported;
// other formats return the header fields and an error wrapping
// ErrUnsupported that names the format.
func ParseAudioTag(body []byte) (AudioTag, error) {
	if len(body) < 1 {
		return AudioTag{}, ErrShort
	}
	t := AudioTag{
		SoundFormat: body[0] >> 4,
		SoundRate:   (body[0] >> 2) & 3,
		SoundSize:   (body[0] >> 1) & 1,
		Stereo:      body[0]&1 != 0,
	}
	if t.SoundFormat != SoundFormatAAC {
		return t, fmt.Errorf("%w: sound format %d (%s)", ErrUnsupported, t.SoundFormat, soundFormatNames[t.SoundFormat])
	}
	if len(body) < 2 {
		return t, ErrShort
	}
	t.AACPacketType = body[1]
	if t.AACPacketType > AACRaw {
		return t, fmt.Errorf("%w: AACPacketType %d", ErrUnsupported, t.AACPacketType)
	}
	t.Data = body[2:]
	return t, nil
}

// AppendAudioTag appends the body encoding of an AAC audio tag.
func AppendAudioTag(b []byte, t AudioTag) []byte {
	var typ byte
	if t.Stereo {
		typ = 1
	}
	b = append(b, t.SoundFormat<<4|(t.SoundRate&3)<<2|(t.SoundSize&1)<<1|typ)
	if t.SoundFormat == SoundFormatAAC {
		b = append(b, t.AACPacketType)
	}
	return append(b, t.Data...)
}
