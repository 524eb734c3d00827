package nevra

import "fmt"

// ChangeType says how a package differs between two lists. The values are
// rpm-ostree's (its RpmOstreePackageDiffTypes enum, which starts at 0):
// D-Bus clients see them as the "u" of the a(sua{sv}) rpm-diff entries, so
// they go on the wire unchanged and must never be renumbered.
type ChangeType uint32

const (
	Added      ChangeType = 0
	Removed    ChangeType = 1
	Upgraded   ChangeType = 2
	Downgraded ChangeType = 3
)

func (t ChangeType) String() string {
	switch t {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Upgraded:
		return "upgraded"
	case Downgraded:
		return "downgraded"
	}
	// A newer peer may send a kind this one does not know: keep the number.
	return fmt.Sprintf("change-type-%d", uint32(t))
}
