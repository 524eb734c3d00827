package daemon

import (
	"sort"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
)

// org.freedesktop.DBus.ObjectManager at /org/projectatomic/rpmostree1, as
// rpm-ostreed has, so that clients discover the Sysroot and every OS object
// (with their properties) in one call. godbus has no server side for it;
// this is the small part strata needs: stateroots appear (InterfacesAdded)
// and never go away while the daemon runs, so InterfacesRemoved is declared
// but never sent.

const objectManagerName = "org.freedesktop.DBus.ObjectManager"

// OSExperimentalIface is served next to OSIface on every OS object.
const OSExperimentalIface = "org.projectatomic.rpmostree1.OSExperimental"

type objectManager struct{ d *Daemon }

// managedObject is one object's interfaces with their properties.
type managedObject = map[string]map[string]dbus.Variant

// GetManagedObjects lists the Sysroot and the OS objects.
func (m *objectManager) GetManagedObjects() (map[dbus.ObjectPath]managedObject, *dbus.Error) {
	out := map[dbus.ObjectPath]managedObject{}
	if m.d.sysrootProps != nil {
		out[SysrootPath] = m.d.sysrootProps.managed(SysrootIface)
	}
	m.d.mu.Lock()
	names := make([]string, 0, len(m.d.osObjects))
	for name := range m.d.osObjects {
		names = append(names, name)
	}
	m.d.mu.Unlock()
	sort.Strings(names)
	for _, name := range names {
		m.d.mu.Lock()
		o := m.d.osObjects[name]
		m.d.mu.Unlock()
		out[m.d.osPath(name)] = o.managed()
	}
	return out, nil
}

// managed is an interface's entry: its properties.
func (p *properties) managed(iface string) managedObject {
	all, _ := p.GetAll(iface)
	return managedObject{iface: all}
}

// managed is an OS object's entry: OS with its properties, OSExperimental
// without any.
func (o *osObject) managed() managedObject {
	m := o.props.managed(OSIface)
	m[OSExperimentalIface] = map[string]dbus.Variant{}
	return m
}

// exportObjectManager serves the ObjectManager on basePath (exportTree
// publishes its introspection).
func (d *Daemon) exportObjectManager() error {
	return d.conn.Export(&objectManager{d: d}, basePath, objectManagerName)
}

// announce emits InterfacesAdded for an object that just appeared.
func (d *Daemon) announce(path dbus.ObjectPath, m managedObject) {
	if err := d.conn.Emit(basePath, objectManagerName+".InterfacesAdded", path, m); err != nil {
		d.log.WithError(err).WithField("path", path).Warn("emitting InterfacesAdded")
	}
}

var objectManagerInterface = introspect.Interface{
	Name: objectManagerName,
	Methods: []introspect.Method{
		method("GetManagedObjects", out("a{oa{sa{sv}}}", "object_paths_interfaces_and_properties")),
	},
	Signals: []introspect.Signal{
		signal("InterfacesAdded", out("o", "object_path"), out("a{sa{sv}}", "interfaces_and_properties")),
		signal("InterfacesRemoved", out("o", "object_path"), out("as", "interfaces")),
	},
}
