package rpmimport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// capNames are the Linux capabilities by number (linux/capability.h).
var capNames = []string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
	"setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
	"net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
	"sys_tty_config", "mknod", "lease", "audit_write", "audit_control",
	"setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
	"block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// capsXattr turns rpm's %caps text (libcap's cap_to_text form, e.g.
// "cap_net_raw,cap_net_admin=ep" or "cap_sys_nice+ep cap_kill=i") into the
// security.capability xattr value (struct vfs_cap_data, revision 2).
func capsXattr(text string) ([]byte, error) {
	var eff, perm, inh uint64
	clauses := strings.Fields(text)
	if len(clauses) == 0 {
		return nil, errors.New("empty capability text")
	}
	for _, clause := range clauses {
		opAt := strings.IndexAny(clause, "=+-")
		if opAt < 0 {
			return nil, fmt.Errorf("clause %q has no operator", clause)
		}
		var set uint64
		if list := clause[:opAt]; list == "" || strings.EqualFold(list, "all") {
			set = 1<<len(capNames) - 1
		} else {
			for _, name := range strings.Split(list, ",") {
				bit, ok := capBit(name)
				if !ok {
					return nil, fmt.Errorf("unknown capability %q", name)
				}
				set |= 1 << bit
			}
		}
		actions := clause[opAt:]
		for len(actions) > 0 {
			op := actions[0]
			j := 1
			for j < len(actions) && strings.IndexByte("eip", actions[j]) >= 0 {
				j++
			}
			flags := actions[1:j]
			if op != '=' && op != '+' && op != '-' || (op != '=' && flags == "") {
				return nil, fmt.Errorf("bad action %q in %q", actions, clause)
			}
			if op == '=' {
				eff, perm, inh = eff&^set, perm&^set, inh&^set
			}
			for _, fl := range flags {
				dst := map[rune]*uint64{'e': &eff, 'p': &perm, 'i': &inh}[fl]
				if op == '-' {
					*dst &^= set
				} else {
					*dst |= set
				}
			}
			actions = actions[j:]
		}
	}
	if perm == 0 && inh == 0 {
		return nil, nil // nothing granted: no xattr, like libcap's cap_set_file
	}
	out := make([]byte, 20)
	magic := uint32(0x02000000) // VFS_CAP_REVISION_2
	if eff != 0 {
		magic |= 1 // VFS_CAP_FLAGS_EFFECTIVE: file caps have one effective bit
	}
	binary.LittleEndian.PutUint32(out[0:], magic)
	binary.LittleEndian.PutUint32(out[4:], uint32(perm))
	binary.LittleEndian.PutUint32(out[8:], uint32(inh))
	binary.LittleEndian.PutUint32(out[12:], uint32(perm>>32))
	binary.LittleEndian.PutUint32(out[16:], uint32(inh>>32))
	return out, nil
}

func capBit(name string) (uint, bool) {
	n := strings.ToLower(name)
	if !strings.HasPrefix(n, "cap_") {
		return 0, false
	}
	n = n[4:]
	for i, c := range capNames {
		if c == n {
			return uint(i), true
		}
	}
	return 0, false
}
