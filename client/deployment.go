package client

import (
	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/internal/nevra"
)

// Status is the decoded Sysroot object.
type Status struct {
	Booted                dbus.ObjectPath // OS object of the booted stateroot; "/" when none
	Path                  string          // sysroot path
	ActiveTransaction     *TransactionInfo
	ActiveTransactionPath string // transaction address; "" when idle
	AutomaticUpdatePolicy string
	// LastAutomaticUpdate is the daemon's record of the last automatic
	// update run since boot; nil when there was none.
	LastAutomaticUpdate *AutomaticRun
	Deployments         []Deployment // boot order: the first is the default
}

// TransactionInfo is the Sysroot ActiveTransaction triple.
type TransactionInfo struct {
	Method string // e.g. "Upgrade"
	Sender string // bus name of the initiating client
	Path   string // the transaction's address
}

// Busy reports whether the daemon runs a transaction.
func (s *Status) Busy() bool { return s.ActiveTransaction != nil || s.ActiveTransactionPath != "" }

// BootedDeployment returns the booted deployment, or nil.
func (s *Status) BootedDeployment() *Deployment {
	for i := range s.Deployments {
		if s.Deployments[i].Booted {
			return &s.Deployments[i]
		}
	}
	return nil
}

// Deployment is a decoded deployment dictionary. Every key is optional on
// the wire; absent keys decode to zero values. Raw keeps the dictionary as
// received so that callers (status --json) can show keys this type does not
// name.
type Deployment struct {
	ID            string
	OSName        string
	Serial        int32
	Checksum      string
	BaseChecksum  string // set when packages are layered
	Version       string
	Timestamp     uint64 // commit time, Unix seconds
	BaseTimestamp uint64 // base commit time when layered
	Origin        string // the refspec ("" for an image)
	// ContainerImageReference is the image followed instead of a refspec,
	// ContainerImageReferenceDigest the manifest digest it was pulled at.
	ContainerImageReference       string
	ContainerImageReferenceDigest string
	Booted                        bool
	Staged                        bool
	Pinned                        bool
	Unlocked                      string
	GPGEnabled                    bool
	// Ed25519Enabled says the remote verifies ed25519 signatures
	// (sign-verify, strata's key "ed25519-enabled"); Ed25519Signatures
	// lists the trusted public keys (base64) that validly signed the base.
	Ed25519Enabled         bool
	Ed25519Signatures      []string
	Packages               []string // layered packages actually present
	RequestedPackages      []string
	RequestedLocalPackages []string
	RequestedBaseRemovals  []string
	BaseRemovals           []NEVRA
	BaseLocalReplacements  []Replacement
	// BaseRemoteReplacements are base packages replaced from repos, by
	// source ("repo=ID").
	BaseRemoteReplacements map[string][]Replacement
	RegenerateInitramfs    bool
	InitramfsArgs          []string
	InitramfsEtc           []string
	// CustomOriginURL and CustomOriginDescription say where a commit
	// deployed by checksum (or an image pinned by digest) came from.
	CustomOriginURL, CustomOriginDescription string
	LiveInProgress                           string
	LiveReplaced                             string
	EndOfLife                                string
	// RemoteError says the remote followed does not exist (libostree's words).
	RemoteError string
	Raw         map[string]dbus.Variant
}

// NEVRA is rpm-ostree's package tuple (nevra, name, epoch, version, release, arch).
type NEVRA struct {
	NEVRA, Name   string
	Epoch         uint64
	Version       string
	Release, Arch string
}

// EVR is "[epoch:]version-release", the epoch left out when 0. rpm epochs
// are 32-bit; the wire's 't' never carries more.
func (n NEVRA) EVR() string { return nevra.FormatEVR(uint32(n.Epoch), n.Version, n.Release) }

// Replacement is one base package replaced by a local one.
type Replacement struct{ New, Old NEVRA }

// DecodeDeployment decodes a deployment dictionary; wrongly typed values are
// treated as absent rather than failing the whole status.
func DecodeDeployment(m map[string]dbus.Variant) Deployment {
	d := Deployment{Raw: m}
	d.ID = str(m, "id")
	d.OSName = str(m, "osname")
	d.Serial = int32(num(m, "serial"))
	d.Checksum = str(m, "checksum")
	d.BaseChecksum = str(m, "base-checksum")
	d.Version = str(m, "version")
	d.Timestamp = num(m, "timestamp")
	d.BaseTimestamp = num(m, "base-timestamp")
	d.Origin = str(m, "origin")
	d.ContainerImageReference = str(m, "container-image-reference")
	d.ContainerImageReferenceDigest = str(m, "container-image-reference-digest")
	d.Booted = boolean(m, "booted")
	d.Staged = boolean(m, "staged")
	d.Pinned = boolean(m, "pinned")
	d.Unlocked = str(m, "unlocked")
	d.GPGEnabled = boolean(m, "gpg-enabled")
	d.Ed25519Enabled = boolean(m, "ed25519-enabled")
	d.Ed25519Signatures = strs(m, "ed25519-signatures")
	d.Packages = strs(m, "packages")
	d.RequestedPackages = strs(m, "requested-packages")
	d.RequestedLocalPackages = strs(m, "requested-local-packages")
	d.RequestedBaseRemovals = strs(m, "requested-base-removals")
	d.RegenerateInitramfs = boolean(m, "regenerate-initramfs")
	d.InitramfsArgs = strs(m, "initramfs-args")
	d.InitramfsEtc = strs(m, "initramfs-etc")
	d.LiveInProgress = str(m, "live-inprogress")
	if v, ok := m["custom-origin"]; ok {
		if pair, ok := v.Value().([]any); ok && len(pair) == 2 {
			d.CustomOriginURL, _ = pair[0].(string)
			d.CustomOriginDescription, _ = pair[1].(string)
		}
	}
	d.LiveReplaced = str(m, "live-replaced")
	d.EndOfLife = str(m, "endoflife")
	d.RemoteError = str(m, "remote-error")
	if v, ok := m["base-removals"]; ok {
		if list, ok := v.Value().([]dbus.Variant); ok {
			for _, e := range list {
				if n, ok := decodeNEVRA(e.Value()); ok {
					d.BaseRemovals = append(d.BaseRemovals, n)
				}
			}
		}
	}
	if v, ok := m["base-local-replacements"]; ok {
		d.BaseLocalReplacements = decodeReplacements(v.Value())
	}
	if v, ok := m["base-remote-replacements"]; ok {
		if bySource, ok := v.Value().(map[string]dbus.Variant); ok {
			for source, list := range bySource {
				if rs := decodeReplacements(list.Value()); len(rs) > 0 {
					if d.BaseRemoteReplacements == nil {
						d.BaseRemoteReplacements = map[string][]Replacement{}
					}
					d.BaseRemoteReplacements[source] = rs
				}
			}
		}
	}
	return d
}

// decodeReplacements reads a(vv) of (new, old) package tuples.
func decodeReplacements(v any) []Replacement {
	list, ok := v.([][]any)
	if !ok {
		return nil
	}
	var out []Replacement
	for _, pair := range list {
		if len(pair) != 2 {
			continue
		}
		nv, ok1 := pair[0].(dbus.Variant)
		ov, ok2 := pair[1].(dbus.Variant)
		if !ok1 || !ok2 {
			continue
		}
		n, ok1 := decodeNEVRA(nv.Value())
		o, ok2 := decodeNEVRA(ov.Value())
		if ok1 && ok2 {
			out = append(out, Replacement{New: n, Old: o})
		}
	}
	return out
}

// decodeNEVRA reads a (sstsss) struct.
func decodeNEVRA(v any) (NEVRA, bool) {
	f, ok := v.([]any)
	if !ok || len(f) != 6 {
		return NEVRA{}, false
	}
	var n NEVRA
	var ok1, ok2, ok3, ok4, ok5, ok6 bool
	n.NEVRA, ok1 = f[0].(string)
	n.Name, ok2 = f[1].(string)
	n.Epoch, ok3 = f[2].(uint64)
	n.Version, ok4 = f[3].(string)
	n.Release, ok5 = f[4].(string)
	n.Arch, ok6 = f[5].(string)
	return n, ok1 && ok2 && ok3 && ok4 && ok5 && ok6
}

func decodeStatus(p map[string]dbus.Variant) *Status {
	s := &Status{
		Path:                  str(p, "Path"),
		ActiveTransactionPath: str(p, "ActiveTransactionPath"),
		AutomaticUpdatePolicy: str(p, "AutomaticUpdatePolicy"),
		LastAutomaticUpdate:   decodeAutomaticRun(p),
	}
	if v, ok := p["Booted"]; ok {
		s.Booted, _ = v.Value().(dbus.ObjectPath)
	}
	if v, ok := p["ActiveTransaction"]; ok {
		// (sss) with an empty method name means idle, as rpm-ostree's
		// clients treat it.
		if f, ok := v.Value().([]any); ok && len(f) == 3 {
			m, _ := f[0].(string)
			snd, _ := f[1].(string)
			path, _ := f[2].(string)
			if m != "" {
				s.ActiveTransaction = &TransactionInfo{Method: m, Sender: snd, Path: path}
			}
		}
	}
	if v, ok := p["Deployments"]; ok {
		if list, ok := v.Value().([]map[string]dbus.Variant); ok {
			for _, m := range list {
				s.Deployments = append(s.Deployments, DecodeDeployment(m))
			}
		}
	}
	return s
}

func str(m map[string]dbus.Variant, k string) string {
	if v, ok := m[k]; ok {
		switch x := v.Value().(type) {
		case string:
			return x
		case dbus.ObjectPath:
			return string(x)
		}
	}
	return ""
}

func boolean(m map[string]dbus.Variant, k string) bool {
	if v, ok := m[k]; ok {
		b, _ := v.Value().(bool)
		return b
	}
	return false
}

// num accepts any integer type: daemons disagree on widths (e.g. serial is
// 'i', timestamp 't') and a lenient reader costs nothing.
func num(m map[string]dbus.Variant, k string) uint64 {
	v, ok := m[k]
	if !ok {
		return 0
	}
	switch x := v.Value().(type) {
	case uint64:
		return x
	case int64:
		return uint64(x)
	case int32:
		return uint64(x)
	case uint32:
		return uint64(x)
	case int16:
		return uint64(x)
	case uint16:
		return uint64(x)
	case byte:
		return uint64(x)
	}
	return 0
}

func strs(m map[string]dbus.Variant, k string) []string {
	if v, ok := m[k]; ok {
		if l, ok := v.Value().([]string); ok && len(l) > 0 {
			return l
		}
	}
	return nil
}
