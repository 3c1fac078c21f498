// Package aac parses and writes the framing of MPEG-4 AAC audio (ISO/IEC
// 14496-3): the AudioSpecificConfig that MP4 and RTMP carry as decoder
// configuration, and ADTS, the self-describing frame headers of raw .aac
// streams and MPEG-TS.
//
// The package is pure: it turns bytes into values and back, and does no I/O.
// Parsers never panic on untrusted input; they return errors that wrap the
// sentinels below.
package aac

import (
	"errors"
	"fmt"
)

// Errors returned by the parsers, wrapped with detail; test with errors.Is.
var (
	// ErrTruncated means the input ended inside a structure.
	ErrTruncated = errors.New("aac: truncated")
	// ErrInvalid means the input breaks a rule of the specification.
	ErrInvalid = errors.New("aac: invalid")
	// ErrUnsupported means the input is valid but uses a feature this
	// package does not handle.
	ErrUnsupported = errors.New("aac: unsupported")
)

// SamplesPerFrame is the number of samples per channel in one AAC frame
// (one access unit) of the usual 1024-sample framing, at the core sample
// rate. Config.FrameLength960 selects the rare 960-sample framing.
const SamplesPerFrame = 1024

// Audio object types, ISO/IEC 14496-3 Table 1.17.
const (
	ObjectTypeAACMain = 1
	ObjectTypeAACLC   = 2
	ObjectTypeAACSSR  = 3
	ObjectTypeAACLTP  = 4
	ObjectTypeSBR     = 5  // HE-AAC
	ObjectTypePS      = 29 // HE-AAC v2
)

// sampleRates is Table 1.18, indexed by samplingFrequencyIndex; 0xf means
// the rate follows explicitly.
var sampleRates = [...]int{
	96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
}

func sampleRateIndex(rate int) (int, bool) {
	for i, r := range sampleRates {
		if r == rate {
			return i, true
		}
	}
	return 0xf, false
}

// channelCounts maps channelConfiguration 1 to 7 to a number of channels
// (Table 1.19); 0 means a program_config_element says.
var channelCounts = [...]int{0, 1, 2, 3, 4, 5, 6, 8}

// Config is an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) of a
// general-audio (AAC) stream.
//
//	5 bits: audioObjectType (31: 6 more bits, plus 32)
//	4 bits: samplingFrequencyIndex (15: 24 bits of samplingFrequency)
//	4 bits: channelConfiguration
//	[SBR/PS, explicit hierarchical: 4(+24) bits extension rate, 5(+6) bits core object type]
//	GASpecificConfig: frameLengthFlag, dependsOnCoreCoder [14 bits delay], extensionFlag
type Config struct {
	// ObjectType is the audio object type of the core coder, e.g.
	// ObjectTypeAACLC; with SBR or PS it is the type beneath them.
	ObjectType int
	// SampleRate is the sampling rate of the core coder, in Hz.
	SampleRate int
	// Channels is the number of channels: 1 to 6, or 8.
	Channels int
	// FrameLength960 selects 960 samples per frame instead of 1024
	// (frameLengthFlag).
	FrameLength960 bool
	// DependsOnCoreCoder and CoreCoderDelay are the GASpecificConfig fields
	// of scalable streams.
	DependsOnCoreCoder bool
	CoreCoderDelay     uint16

	// SBR is set for HE-AAC (spectral band replication), and PS for HE-AAC
	// v2 (parametric stereo, which implies SBR), when the configuration
	// signals them explicitly: hierarchically (object type 5 or 29 first,
	// 1.6.5.2) or by the backward-compatible syncExtensionType 0x2b7.
	// Marshal writes the hierarchical form.
	SBR, PS bool
	// ExtensionSampleRate is the output sampling rate of SBR, in Hz.
	ExtensionSampleRate int
}

// ParseConfig parses an AudioSpecificConfig. It parses the AAC object
// types Main, LC, SSR and LTP (1 to 4), possibly beneath SBR or PS, with
// channel configurations 1 to 7 (not 0, a program_config_element); bits
// after their GASpecificConfig other than a backward-compatible SBR/PS
// extension are ignored. Of other object types it parses the object type,
// sampling rate and channel configuration only (Channels is 0 if unknown),
// and Marshal cannot write them.
func ParseConfig(asc []byte) (*Config, error) {
	c := &Config{}
	if err := c.parse(&bitReader{b: asc}); err != nil {
		return nil, fmt.Errorf("AudioSpecificConfig: %w", err)
	}
	return c, nil
}

func (c *Config) parse(r *bitReader) error {
	aot, err := r.objectType()
	if err != nil {
		return err
	}
	if c.SampleRate, err = r.sampleRate(); err != nil {
		return err
	}
	chanCfg, err := r.u(4)
	if err != nil {
		return err
	}
	if aot == ObjectTypeSBR || aot == ObjectTypePS { // 1.6.2.1, explicit hierarchical signalling
		c.SBR, c.PS = true, aot == ObjectTypePS
		if c.ExtensionSampleRate, err = r.sampleRate(); err != nil {
			return err
		}
		if aot, err = r.objectType(); err != nil {
			return err
		}
	}
	c.ObjectType = aot
	if int(chanCfg) < len(channelCounts) {
		c.Channels = channelCounts[chanCfg]
	}
	if aot < ObjectTypeAACMain || aot > ObjectTypeAACLTP {
		// Not AAC (e.g. 42, USAC): the common fields only; Marshal cannot
		// write it back.
		return nil
	}
	if c.Channels == 0 {
		return fmt.Errorf("%w: channel configuration %d", ErrUnsupported, chanCfg)
	}

	// GASpecificConfig, 4.4.1.
	if c.FrameLength960, err = r.flag(); err != nil {
		return err
	}
	if c.DependsOnCoreCoder, err = r.flag(); err != nil {
		return err
	}
	if c.DependsOnCoreCoder {
		v, err := r.u(14)
		if err != nil {
			return err
		}
		c.CoreCoderDelay = uint16(v)
	}
	extensionFlag, err := r.flag()
	if err != nil {
		return err
	}
	if extensionFlag {
		if _, err := r.u(1); err != nil { // extensionFlag3
			return err
		}
	}

	// Backward-compatible signalling of SBR and PS (1.6.5.2, 1.6.6.2):
	// syncExtensionType 0x2b7, extensionAudioObjectType 5, sbrPresentFlag,
	// extension rate, then syncExtensionType 0x548 and psPresentFlag. A
	// malformed extension is ignored, as decoders do.
	if !c.SBR && r.left() >= 16 {
		c.parseSyncExtension(r)
	}
	return nil
}

func (c *Config) parseSyncExtension(r *bitReader) {
	if sync, _ := r.u(11); sync != 0x2b7 {
		return
	}
	if aot, err := r.objectType(); err != nil || aot != ObjectTypeSBR {
		return
	}
	if sbr, err := r.flag(); err != nil || !sbr {
		return
	}
	rate, err := r.sampleRate()
	if err != nil {
		return
	}
	c.SBR, c.ExtensionSampleRate = true, rate
	if r.left() >= 12 {
		if sync, _ := r.u(11); sync == 0x548 {
			c.PS, _ = r.flag()
		}
	}
}

// Validate reports whether Marshal can encode c.
func (c *Config) Validate() error {
	if c.ObjectType < ObjectTypeAACMain || c.ObjectType > ObjectTypeAACLTP {
		return fmt.Errorf("%w: audio object type %d", ErrUnsupported, c.ObjectType)
	}
	if channelConfig(c.Channels) == 0 {
		return fmt.Errorf("%w: %d channels", ErrUnsupported, c.Channels)
	}
	if c.SampleRate <= 0 || c.SampleRate > 1<<24-1 {
		return fmt.Errorf("%w: sample rate %d", ErrInvalid, c.SampleRate)
	}
	if (c.SBR || c.PS) && (c.ExtensionSampleRate <= 0 || c.ExtensionSampleRate > 1<<24-1) {
		return fmt.Errorf("%w: SBR sample rate %d", ErrInvalid, c.ExtensionSampleRate)
	}
	if c.CoreCoderDelay >= 1<<14 {
		return fmt.Errorf("%w: core coder delay %d", ErrInvalid, c.CoreCoderDelay)
	}
	return nil
}

// channelConfig returns the channelConfiguration for a number of channels,
// or 0 if there is none.
func channelConfig(channels int) int {
	for i, n := range channelCounts {
		if i > 0 && n == channels {
			return i
		}
	}
	return 0
}

// Marshal returns the AudioSpecificConfig of c, or nil if c cannot be
// encoded (Validate says why). A rate in Table 1.18 is written as its
// index, any other explicitly.
func (c *Config) Marshal() []byte {
	if c.Validate() != nil {
		return nil
	}
	var w bitWriter
	if c.SBR || c.PS {
		aot := ObjectTypeSBR
		if c.PS {
			aot = ObjectTypePS
		}
		w.objectType(aot)
		w.sampleRate(c.SampleRate)
		w.u(4, uint32(channelConfig(c.Channels)))
		w.sampleRate(c.ExtensionSampleRate)
		w.objectType(c.ObjectType)
	} else {
		w.objectType(c.ObjectType)
		w.sampleRate(c.SampleRate)
		w.u(4, uint32(channelConfig(c.Channels)))
	}
	w.flag(c.FrameLength960)
	w.flag(c.DependsOnCoreCoder)
	if c.DependsOnCoreCoder {
		w.u(14, uint32(c.CoreCoderDelay))
	}
	w.flag(false) // extensionFlag
	return w.b
}

// CodecString returns the RFC 6381 codecs parameter, "mp4a.40.N" where N is
// the audio object type (RFC 6381 3.3; 40 is the MPEG-4 Audio
// objectTypeIndication): 5 for HE-AAC and 29 for HE-AAC v2, as browsers
// expect.
func (c *Config) CodecString() string {
	aot := c.ObjectType
	switch {
	case c.PS:
		aot = ObjectTypePS
	case c.SBR:
		aot = ObjectTypeSBR
	}
	return fmt.Sprintf("mp4a.40.%d", aot)
}

// FrameSamples returns the number of samples per channel in one frame at
// SampleRate: SamplesPerFrame, or 960.
func (c *Config) FrameSamples() int {
	if c.FrameLength960 {
		return 960
	}
	return SamplesPerFrame
}
