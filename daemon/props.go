package daemon

import (
	"reflect"
	"sync"

	"github.com/godbus/dbus/v5"
)

// properties serves org.freedesktop.DBus.Properties for one object with
// read-only values. godbus's prop package merges a new map value into the old
// one (keys that disappeared would linger in a{sv} properties such as
// CachedUpdate), so values here are replaced whole.
type properties struct {
	conn *dbus.Conn
	path dbus.ObjectPath

	mu     sync.RWMutex
	values map[string]map[string]any // interface -> property -> value
}

func exportProperties(conn *dbus.Conn, path dbus.ObjectPath, iface string, initial map[string]any) (*properties, error) {
	p := &properties{conn: conn, path: path, values: map[string]map[string]any{iface: initial}}
	if err := conn.Export(p, path, propertiesName); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *properties) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, ok := p.values[iface][name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{"no property " + name + " on " + iface})
	}
	return dbus.MakeVariant(v), nil
}

func (p *properties) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	all := map[string]dbus.Variant{}
	for name, v := range p.values[iface] {
		all[name] = dbus.MakeVariant(v)
	}
	return all, nil
}

func (p *properties) Set(iface, name string, value dbus.Variant) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{name + " is read-only"})
}

// set replaces a value and emits PropertiesChanged, only when it really changed.
func (p *properties) set(iface, name string, v any) {
	p.mu.Lock()
	if reflect.DeepEqual(p.values[iface][name], v) {
		p.mu.Unlock()
		return
	}
	p.values[iface][name] = v
	p.mu.Unlock()
	_ = p.conn.Emit(p.path, propertiesName+".PropertiesChanged", iface, map[string]dbus.Variant{name: dbus.MakeVariant(v)}, []string{})
}
