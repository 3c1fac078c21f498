package amf0

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Encode encodes vs one after the other, as in an RTMP command message.
func Encode(vs ...any) ([]byte, error) {
	var b []byte
	var err error
	for _, v := range vs {
		if b, err = Append(b, v); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Append appends the encoding of v to dst. Besides the types Decode returns,
// it accepts Go integer types and float32 (as numbers).
func Append(dst []byte, v any) ([]byte, error) {
	return appendValue(dst, v, 0)
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, ErrDepth
	}
	switch v := v.(type) {
	case nil:
		return append(b, markerNull), nil
	case Undefined:
		return append(b, markerUndefined), nil
	case float64:
		return appendNumber(b, v), nil
	case float32:
		return appendNumber(b, float64(v)), nil
	case int:
		return appendNumber(b, float64(v)), nil
	case int32:
		return appendNumber(b, float64(v)), nil
	case int64:
		return appendNumber(b, float64(v)), nil
	case uint32:
		return appendNumber(b, float64(v)), nil
	case uint8:
		return appendNumber(b, float64(v)), nil
	case bool:
		if v {
			return append(b, markerBoolean, 1), nil
		}
		return append(b, markerBoolean, 0), nil
	case string:
		if len(v) > math.MaxUint16 {
			b = append(b, markerLongString)
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			return append(b, v...), nil
		}
		b = append(b, markerString)
		return appendUTF8(b, v), nil
	case Object:
		b = append(b, markerObject)
		return appendProps(b, v, depth)
	case ECMAArray:
		b = append(b, markerECMAArray)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		return appendProps(b, v, depth)
	case []any:
		b = append(b, markerStrictArray)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		var err error
		for _, e := range v {
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case time.Time:
		b = append(b, markerDate)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(float64(v.UnixMilli())))
		return append(b, 0, 0), nil
	}
	return nil, fmt.Errorf("%w %T", ErrUnsupported, v)
}

func appendNumber(b []byte, f float64) []byte {
	b = append(b, markerNumber)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

func appendUTF8(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendProps(b []byte, ps []Property, depth int) ([]byte, error) {
	var err error
	for _, p := range ps {
		if len(p.Key) > math.MaxUint16 {
			return nil, fmt.Errorf("%w: property name too long", ErrUnsupported)
		}
		b = appendUTF8(b, p.Key)
		if b, err = appendValue(b, p.Value, depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, 0, 0, markerObjectEnd), nil
}
