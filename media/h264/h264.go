// Package h264 parses and converts H.264 (ITU-T H.264 | ISO/IEC 14496-10)
// bitstreams: NAL units in Annex B and AVCC (length-prefixed) framing,
// sequence parameter sets, the AVCDecoderConfigurationRecord of ISO/IEC
// 14496-15, and SEI messages.
//
// The package is pure: it turns bytes into values and back, and does no I/O.
// Parsers never panic on untrusted input; they return errors that wrap the
// sentinels below.
package h264

import "errors"

// Errors returned by the parsers, wrapped with detail; test with errors.Is.
var (
	// ErrTruncated means the input ended inside a structure.
	ErrTruncated = errors.New("h264: truncated")
	// ErrInvalid means the input breaks a rule of the specification.
	ErrInvalid = errors.New("h264: invalid")
	// ErrUnsupported means the input is valid but uses a feature this
	// package does not handle.
	ErrUnsupported = errors.New("h264: unsupported")
)

// NAL unit types, ITU-T H.264 Table 7-1.
const (
	NALUTypeSlice            = 1  // coded slice of a non-IDR picture
	NALUTypeSliceDPA         = 2  // coded slice data partition A
	NALUTypeSliceDPB         = 3  // coded slice data partition B
	NALUTypeSliceDPC         = 4  // coded slice data partition C
	NALUTypeIDR              = 5  // coded slice of an IDR picture
	NALUTypeSEI              = 6  // supplemental enhancement information
	NALUTypeSPS              = 7  // sequence parameter set
	NALUTypePPS              = 8  // picture parameter set
	NALUTypeAUD              = 9  // access unit delimiter
	NALUTypeEndOfSequence    = 10 // end of sequence
	NALUTypeEndOfStream      = 11 // end of stream
	NALUTypeFillerData       = 12 // filler data
	NALUTypeSPSExtension     = 13 // sequence parameter set extension
	NALUTypePrefix           = 14 // prefix NAL unit (SVC, MVC)
	NALUTypeSubsetSPS        = 15 // subset sequence parameter set
	NALUTypeDPS              = 16 // depth parameter set
	NALUTypeAuxiliarySlice   = 19 // coded slice of an auxiliary coded picture
	NALUTypeSliceExtension   = 20 // coded slice extension (SVC, MVC)
	NALUTypeSliceDepthExtend = 21 // coded slice extension for a depth view
)

// NALUType returns the nal_unit_type of a NAL unit (ITU-T H.264 7.3.1), or
// 0 for an empty one.
//
//	+---------------+
//	|0|1|2|3|4|5|6|7|
//	+-+-+-+-+-+-+-+-+
//	|F|NRI|  Type   |
//	+---------------+
func NALUType(nal []byte) uint8 {
	if len(nal) == 0 {
		return 0
	}
	return nal[0] & 0x1f
}
