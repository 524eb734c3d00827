package daemon

import (
	"github.com/godbus/dbus/v5/introspect"
)

// Names of the wire API, identical to rpm-ostree's so its clients work unchanged.
const (
	BusName        = "org.projectatomic.rpmostree1"
	basePath       = "/org/projectatomic/rpmostree1"
	SysrootPath    = basePath + "/Sysroot"
	SysrootIface   = "org.projectatomic.rpmostree1.Sysroot"
	OSIface        = "org.projectatomic.rpmostree1.OS"
	TxnIface       = "org.projectatomic.rpmostree1.Transaction"
	errorPrefix    = "org.projectatomic.rpmostreed.Error."
	propertiesName = "org.freedesktop.DBus.Properties"
	introspectName = "org.freedesktop.DBus.Introspectable"
)

// The introspection data below describes exactly the members strata serves. It is
// written from the names and signatures of rpm-ostree's published interface; a
// member appears here only once it is implemented.

func in(sig, name string) introspect.Arg {
	return introspect.Arg{Name: name, Type: sig, Direction: "in"}
}
func out(sig, name string) introspect.Arg {
	return introspect.Arg{Name: name, Type: sig, Direction: "out"}
}
func method(name string, args ...introspect.Arg) introspect.Method {
	return introspect.Method{Name: name, Args: args}
}
func signal(name string, args ...introspect.Arg) introspect.Signal {
	for i := range args {
		args[i].Direction = "" // signal args have no direction
	}
	return introspect.Signal{Name: name, Args: args}
}
func property(name, sig string) introspect.Property {
	return introspect.Property{Name: name, Type: sig, Access: "read"}
}

var sysrootInterface = introspect.Interface{
	Name: SysrootIface,
	Properties: []introspect.Property{
		property("Booted", "o"),
		property("Path", "s"),
		property("ActiveTransaction", "(sss)"),
		property("ActiveTransactionPath", "s"),
		property("Deployments", "aa{sv}"),
		property("AutomaticUpdatePolicy", "s"),
		// strata's: the last automatic update run (see lastrun.go).
		property("LastAutomaticUpdate", "a{sv}"),
	},
	Methods: []introspect.Method{
		method("RegisterClient", in("a{sv}", "options")),
		method("UnregisterClient", in("a{sv}", "options")),
		method("Reload"),
		method("ReloadConfig"),
		method("GetOS", in("s", "name"), out("o", "object_path")),
	},
}

const txAddr = "transaction_address"

var osInterface = introspect.Interface{
	Name: OSIface,
	Properties: []introspect.Property{
		property("BootedDeployment", "a{sv}"),
		property("DefaultDeployment", "a{sv}"),
		property("RollbackDeployment", "a{sv}"),
		property("CachedUpdate", "a{sv}"),
		property("HasCachedUpdateRpmDiff", "b"),
		property("Name", "s"),
	},
	Methods: []introspect.Method{
		method("Upgrade", in("a{sv}", "options"), out("s", txAddr)),
		method("Rollback", in("a{sv}", "options"), out("s", txAddr)),
		method("Rebase", in("a{sv}", "options"), in("s", "refspec"), in("as", "packages"), out("s", txAddr)),
		method("Deploy", in("s", "revision"), in("a{sv}", "options"), out("s", txAddr)),
		method("Cleanup", in("as", "elements"), out("s", txAddr)),
		method("DownloadUpdateRpmDiff", out("s", txAddr)),
		method("AutomaticUpdateTrigger", in("a{sv}", "options"), out("b", "enabled"), out("s", txAddr)),
		method("ClearRollbackTarget", in("a{sv}", "options"), out("s", txAddr)),
		method("GetCachedRebaseRpmDiff", in("s", "refspec"), in("as", "packages"), out("a(sua{sv})", "result"), out("a{sv}", "details")),
		method("DownloadRebaseRpmDiff", in("s", "refspec"), in("as", "packages"), out("s", txAddr)),
		method("GetCachedDeployRpmDiff", in("s", "revision"), in("as", "packages"), out("a(sua{sv})", "result"), out("a{sv}", "details")),
		method("DownloadDeployRpmDiff", in("s", "revision"), in("as", "packages"), out("s", txAddr)),
		method("SetInitramfsState", in("b", "regenerate"), in("as", "args"), in("a{sv}", "options"), out("s", txAddr)),
		method("InitramfsEtc", in("as", "track"), in("as", "untrack"), in("b", "untrack_all"), in("b", "force_sync"),
			in("a{sv}", "options"), out("s", txAddr)),
		method("ModifyYumRepo", in("s", "repo_id"), in("a{ss}", "settings"), out("s", txAddr)),
		method("ListRepos", out("aa{sv}", "repos")),
		method("WhatProvides", in("as", "provides"), out("aa{sv}", "packages")),
		method("GetPackages", in("as", "names"), out("aa{sv}", "packages")),
		method("Search", in("as", "names"), out("aa{sv}", "packages")),
		method("PkgChange", in("a{sv}", "options"), in("as", "packages_added"), in("as", "packages_removed"), out("s", txAddr)),
		method("UpdateDeployment", in("a{sv}", "modifiers"), in("a{sv}", "options"), out("s", txAddr)),
		method("RefreshMd", in("a{sv}", "options"), out("s", txAddr)),
		method("GetDeploymentsRpmDiff", in("s", "deployid0"), in("s", "deployid1"), out("a(sua{sv})", "result")),
		method("GetCachedUpdateRpmDiff", in("s", "deployid"), out("a(sua{sv})", "result"), out("a{sv}", "details")),
		method("KernelArgs", in("s", "existing_kernel_arg_string"), in("as", "kernel_args_added"), in("as", "kernel_args_replaced"),
			in("as", "kernel_args_removed"), in("a{sv}", "options"), out("s", txAddr)),
		method("GetDeploymentBootConfig", in("s", "deployid"), in("b", "is_pending"), out("a{sv}", "bootconfig")),
		method("FinalizeDeployment", in("a{sv}", "options"), out("s", txAddr)),
		// strata's own (see ListDeploymentPackages in packages.go).
		method("ListDeploymentPackages", in("s", "deployid"), out("a(sstsss)", "packages")),
	},
}

var osExperimentalInterface = introspect.Interface{
	Name: OSExperimentalIface,
	Methods: []introspect.Method{
		method("Moo", in("b", "utf8"), out("s", "result")),
		method("LiveFs", in("a{sv}", "options"), out("s", txAddr)),
		// Its reply carries file descriptors only, outside the signature.
		method("DownloadPackages", in("as", "queries"), in("s", "source")),
	},
}

var txnInterface = introspect.Interface{
	Name: TxnIface,
	Properties: []introspect.Property{
		property("Title", "s"),
		property("InitiatingClientDescription", "s"),
	},
	Methods: []introspect.Method{
		method("Cancel"),
		method("Start", out("b", "started")),
	},
	Signals: []introspect.Signal{
		signal("Finished", out("b", "success"), out("s", "error_message")),
		signal("Message", out("s", "text")),
		signal("TaskBegin", out("s", "text")),
		signal("TaskEnd", out("s", "text")),
		signal("PercentProgress", out("s", "text"), out("u", "percentage")),
		signal("DownloadProgress", out("(tt)", "time"), out("(uu)", "outstanding"), out("(uuu)", "metadata"),
			out("(uuut)", "delta"), out("(uu)", "content"), out("(tt)", "transfer")),
		signal("SignatureProgress", out("av", "signature"), out("s", "commit")),
		signal("ProgressEnd"),
	},
}

var propertiesInterface = introspect.Interface{
	Name: propertiesName,
	Methods: []introspect.Method{
		method("Get", in("s", "interface_name"), in("s", "property_name"), out("v", "value")),
		method("GetAll", in("s", "interface_name"), out("a{sv}", "props")),
		method("Set", in("s", "interface_name"), in("s", "property_name"), in("v", "value")),
	},
	Signals: []introspect.Signal{
		signal("PropertiesChanged", out("s", "interface_name"), out("a{sv}", "changed_properties"), out("as", "invalidated_properties")),
	},
}

// node builds the introspection of one object: its own interfaces plus
// Properties where it has any. introspect.NewIntrospectable appends
// Introspectable and Peer itself (and would list them twice if given here).
func node(children []string, ifaces ...introspect.Interface) *introspect.Node {
	n := &introspect.Node{Interfaces: ifaces}
	if len(ifaces) > 0 {
		n.Interfaces = append(n.Interfaces, propertiesInterface)
	}
	for _, c := range children {
		n.Children = append(n.Children, introspect.Node{Name: c})
	}
	return n
}
