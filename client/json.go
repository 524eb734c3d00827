package client

import (
	"fmt"
	"reflect"

	"github.com/godbus/dbus/v5"
)

// ToJSON converts a decoded D-Bus value into plain Go values that
// encoding/json renders the way rpm-ostree's `status --json` does (GLib's
// json_gvariant_serialize): variants are unwrapped, dictionaries become
// objects, structs and arrays become arrays, byte arrays become arrays of
// numbers (not base64), object paths and signatures become strings.
func ToJSON(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case dbus.Variant:
		return ToJSON(x.Value())
	case dbus.ObjectPath:
		return string(x)
	case dbus.Signature:
		return x.String()
	case []byte:
		out := make([]any, len(x))
		for i, b := range x {
			out[i] = int(b)
		}
		return out
	case string, bool, int16, uint16, int32, uint32, int64, uint64, float64:
		return x
	case byte:
		return int(x)
	case map[string]dbus.Variant:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = ToJSON(e.Value())
		}
		return out
	}
	// Everything else (arrays of any type, structs as []any, dictionaries
	// with other key types) by reflection.
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = ToJSON(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			// JSON keys are strings: numeric keys print in decimal.
			out[fmt.Sprint(ToJSON(iter.Key().Interface()))] = ToJSON(iter.Value().Interface())
		}
		return out
	}
	return v
}
