package nevra

import "strings"

// Vercmp compares two version (or release) strings as rpm does, returning
// -1, 0 or 1. The strings are read as runs of digits and runs of ASCII
// letters; anything else only separates runs ("2.0" equals "2_0"). Numeric
// runs compare as numbers (leading zeros ignored) and beat alphabetic ones;
// alphabetic runs compare bytewise. A "~" sorts before everything, even the
// end of the string (1.0~rc1 < 1.0), and a "^" after the end but before
// anything else (1.0 < 1.0^git1 < 1.0.1). When one string runs out first,
// the longer one is newer.
//
// Written for strata and checked against every case of rpm's own
// tests/rpmvercmp.at (see vercmp_test.go).
func Vercmp(a, b string) int {
	if a == b {
		return 0
	}
	for {
		a = strings.TrimLeftFunc(a, isSeparator)
		b = strings.TrimLeftFunc(b, isSeparator)

		if startsWith(a, '~') || startsWith(b, '~') {
			if !startsWith(a, '~') {
				return 1
			}
			if !startsWith(b, '~') {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if startsWith(a, '^') || startsWith(b, '^') {
			switch {
			case a == "":
				return -1
			case b == "":
				return 1
			case !startsWith(a, '^'):
				return 1
			case !startsWith(b, '^'):
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}

		numeric := isDigit(a[0])
		class := isAlpha
		if numeric {
			class = isDigit
		}
		var ra, rb string
		ra, a = leadingRun(a, class)
		rb, b = leadingRun(b, class)
		if rb == "" {
			// Runs of different kinds: a number is newer than letters.
			if numeric {
				return 1
			}
			return -1
		}
		if numeric {
			ra = strings.TrimLeft(ra, "0")
			rb = strings.TrimLeft(rb, "0")
			if len(ra) != len(rb) {
				if len(ra) > len(rb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(ra, rb); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

func startsWith(s string, c byte) bool { return s != "" && s[0] == c }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isSeparator is any rune that is not an ASCII letter or digit, "~" or "^".
// Non-ASCII letters separate too, as in rpm.
func isSeparator(r rune) bool {
	return !(r < 0x80 && (isDigit(byte(r)) || isAlpha(byte(r)))) && r != '~' && r != '^'
}

// leadingRun splits s after its leading run of bytes in class.
func leadingRun(s string, class func(byte) bool) (run, rest string) {
	i := 0
	for i < len(s) && class(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
