package flv

import (
	"fmt"

	"github.com/liveloop/liveloop/flv/amf0"
)

// ScriptData is a parsed script data tag (E.4.4.1): a name such as
// "onMetaData" and the properties of the object or ECMA array that follows.
type ScriptData struct {
	Name  string
	Props []amf0.Property
}

// ParseScriptData parses a script data tag body, or the payload of an RTMP
// data message. The "@setDataFrame" prefix RTMP publishers put before
// onMetaData is skipped.
func ParseScriptData(body []byte) (ScriptData, error) {
	vs, err := amf0.DecodeAll(body)
	if err != nil && len(vs) < 2 {
		return ScriptData{}, fmt.Errorf("flv: script data: %w", err)
	}
	if len(vs) > 0 && vs[0] == "@setDataFrame" {
		vs = vs[1:]
	}
	if len(vs) == 0 {
		return ScriptData{}, fmt.Errorf("flv: script data: %w", ErrShort)
	}
	name, ok := vs[0].(string)
	if !ok {
		return ScriptData{}, fmt.Errorf("flv: script data: name is %T, not a string", vs[0])
	}
	sd := ScriptData{Name: name}
	if len(vs) > 1 {
		sd.Props, _ = amf0.Properties(vs[1])
	}
	return sd, nil
}
