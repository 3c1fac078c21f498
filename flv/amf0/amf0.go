// Package amf0 encodes and decodes Action Message Format version 0, the
// serialisation used by FLV script data tags (onMetaData) and by RTMP command
// and data messages.
//
// Reference: Adobe "Action Message Format -- AMF 0" (December 2007).
//
// Values map to Go types as follows:
//
//	marker                   Go value
//	0x00 number              float64
//	0x01 boolean             bool
//	0x02 string              string
//	0x03 object              Object
//	0x05 null                nil
//	0x06 undefined           Undefined{}
//	0x07 reference           the referenced Object, ECMAArray or []any (decode only)
//	0x08 ECMA array          ECMAArray
//	0x0A strict array        []any
//	0x0B date                time.Time (UTC, millisecond precision)
//	0x0C long string         string (encoded as a long string when longer than 65535 bytes)
//	0x10 typed object        Object (class name dropped; decode only)
//
// The decoder treats its input as untrusted: nesting depth is bounded by
// MaxDepth, and no allocation is sized from a length field beyond the bytes
// actually present.
package amf0

import (
	"errors"
	"time"
)

// Type markers (AMF0 2.1).
const (
	markerNumber      = 0x00
	markerBoolean     = 0x01
	markerString      = 0x02
	markerObject      = 0x03
	markerMovieClip   = 0x04 // reserved, not supported
	markerNull        = 0x05
	markerUndefined   = 0x06
	markerReference   = 0x07
	markerECMAArray   = 0x08
	markerObjectEnd   = 0x09
	markerStrictArray = 0x0A
	markerDate        = 0x0B
	markerLongString  = 0x0C
	markerUnsupported = 0x0D
	markerRecordSet   = 0x0E // reserved, not supported
	markerXMLDocument = 0x0F
	markerTypedObject = 0x10
	markerAVMPlus     = 0x11
)

// MaxDepth bounds the nesting of objects and arrays the decoder accepts.
const MaxDepth = 32

// Errors returned by the decoder and encoder.
var (
	ErrShort       = errors.New("amf0: value truncated")
	ErrDepth       = errors.New("amf0: nesting too deep")
	ErrMarker      = errors.New("amf0: unsupported type marker")
	ErrReference   = errors.New("amf0: reference to unknown object")
	ErrObjectEnd   = errors.New("amf0: unexpected object end")
	ErrUnsupported = errors.New("amf0: cannot encode Go type")
)

// Undefined is the AMF0 undefined value.
type Undefined struct{}

// Property is one key/value pair of an Object or ECMAArray, kept in wire
// order.
type Property struct {
	Key   string
	Value any
}

// Object is an anonymous AMF0 object: an ordered list of properties.
type Object []Property

// ECMAArray is an AMF0 associative array. FLV onMetaData and many RTMP
// encoders use it where others use an Object.
type ECMAArray []Property

// Get returns the value of the first property named key.
func (o Object) Get(key string) (any, bool) { return get(o, key) }

// String returns the string property named key, or "" if absent or not a string.
func (o Object) String(key string) string { s, _ := getAs[string](o, key); return s }

// Number returns the number property named key, and whether it exists as a number.
func (o Object) Number(key string) (float64, bool) { return getAs[float64](o, key) }

// Get returns the value of the first property named key.
func (a ECMAArray) Get(key string) (any, bool) { return get(a, key) }

// String returns the string property named key, or "" if absent or not a string.
func (a ECMAArray) String(key string) string { s, _ := getAs[string](a, key); return s }

// Number returns the number property named key, and whether it exists as a number.
func (a ECMAArray) Number(key string) (float64, bool) { return getAs[float64](a, key) }

func get(ps []Property, key string) (any, bool) {
	for _, p := range ps {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

func getAs[T any](ps []Property, key string) (T, bool) {
	v, _ := get(ps, key)
	t, ok := v.(T)
	return t, ok
}

// Properties returns the property list of an Object or ECMAArray value, and
// false for any other value. Encoders disagree on which of the two they send
// (onMetaData, connect command objects), so readers usually want either.
func Properties(v any) ([]Property, bool) {
	switch o := v.(type) {
	case Object:
		return o, true
	case ECMAArray:
		return o, true
	}
	return nil, false
}

// dateFromMillis converts an AMF0 date (milliseconds since the Unix epoch, a
// float64) to a time.Time in UTC.
func dateFromMillis(ms float64) time.Time {
	return time.UnixMilli(int64(ms)).UTC()
}
