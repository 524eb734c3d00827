package transactions

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// KargsChange edits the kernel arguments of a new deployment, as rpm-ostree's
// KernelArgs does. Arguments are "KEY" or "KEY=VALUE".
type KargsChange struct {
	Existing        string   // the arguments the caller started from; "" = the current ones
	Append          []string // added even when present
	Replace         []string // KEY=VALUE replaces KEY's only value; KEY=OLD=NEW replaces one value
	Delete          []string // KEY removes KEY's only value; KEY=VALUE removes that value
	AppendIfMissing []string
	DeleteIfPresent []string
	Final           string // when set, exactly these arguments (rpm-ostree's --editor)
	// LockFinalization stages the new deployment locked (see UpgradeOptions).
	LockFinalization bool
}

// managedKarg is set by libostree itself on every boot entry.
const managedKarg = "ostree"

// KernelArgs deploys osname's current commit again with changed kernel
// arguments; /etc is merged as for any new deployment.
func (e *Engine) KernelArgs(ctx context.Context, osname string, ch KargsChange, p Progress) (Result, error) {
	var res Result
	err := e.run(ctx, func(s Sysroot) error {
		merge, o, err := mergeOrigin(s, osname)
		if err != nil {
			return err
		}
		current := ch.Existing
		if current == "" {
			current = merge.Kargs
		}
		var next []string
		if ch.Final != "" {
			next = strings.Fields(ch.Final)
		} else if next, err = applyKargs(strings.Fields(current), ch); err != nil {
			return err
		}
		// libostree sets ostree= on every entry itself. A non-nil list, even
		// an empty one, replaces the arguments instead of inheriting them.
		next = append([]string{}, withoutManaged(next)...)
		if slices.Equal(next, withoutManaged(strings.Fields(merge.Kargs))) {
			p.Message("Kernel arguments are unchanged.")
			return nil
		}
		res, err = writeDeployment(ctx, s, newDeployment{
			osname: osname, commit: merge.Checksum, base: readBase(s.Repo(), merge).checksum,
			merge: merge, origin: o, kargs: next, lockFinalization: ch.LockFinalization,
		}, p)
		return err
	})
	return res, err
}

// withoutManaged drops the arguments libostree manages itself.
func withoutManaged(args []string) []string {
	return slices.DeleteFunc(args, func(a string) bool { return kargKey(a) == managedKarg })
}

func kargKey(arg string) string {
	key, _, _ := strings.Cut(arg, "=")
	return key
}

// applyKargs applies a change to a list of arguments in the order rpm-ostree
// does: delete, replace, append, then the if-missing/if-present forms.
func applyKargs(args []string, ch KargsChange) ([]string, error) {
	out := slices.Clone(args)
	for _, del := range ch.Delete {
		key, _, hasValue := strings.Cut(del, "=")
		var idx []int
		for i, a := range out {
			if (hasValue && a == del) || (!hasValue && kargKey(a) == key) {
				idx = append(idx, i)
			}
		}
		switch {
		case len(idx) == 0:
			return nil, fmt.Errorf("kernel argument %q is not present", del)
		case len(idx) > 1 && !hasValue:
			return nil, fmt.Errorf("Multiple values for key '%s' found; delete one with %s=VALUE", key, key)
		}
		out = slices.Delete(out, idx[0], idx[0]+1)
	}
	for _, rep := range ch.Replace {
		key, rest, ok := strings.Cut(rep, "=")
		if !ok {
			return nil, fmt.Errorf("replacement %q needs KEY=VALUE or KEY=OLD=NEW", rep)
		}
		old, newVal, specific := strings.Cut(rest, "=")
		var idx []int
		for i, a := range out {
			if kargKey(a) == key && (!specific || a == key+"="+old) {
				idx = append(idx, i)
			}
		}
		switch {
		case len(idx) == 0:
			return nil, fmt.Errorf("no kernel argument %q to replace", strings.TrimSuffix(key+"="+old, "="))
		case len(idx) > 1:
			return nil, fmt.Errorf("Multiple values for key '%s' found; replace one with %s=OLD=NEW", key, key)
		}
		if specific {
			out[idx[0]] = key + "=" + newVal
		} else {
			out[idx[0]] = rep
		}
	}
	out = append(out, ch.Append...)
	for _, a := range ch.AppendIfMissing {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, d := range ch.DeleteIfPresent {
		out = slices.DeleteFunc(out, func(a string) bool { return a == d || (!strings.Contains(d, "=") && kargKey(a) == d) })
	}
	return out, nil
}
