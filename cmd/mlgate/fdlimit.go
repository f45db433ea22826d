package main

import "syscall"

// fdLimits is the process's open-file limit (RLIMIT_NOFILE).
type fdLimits struct {
	Soft, Hard uint64
}

// raiseFDLimit raises the soft open-file limit to the hard one, as far as
// the system allows, and returns the limit before and after. (The Go
// runtime already does this when the os package starts, so before and
// after are usually equal; mlgate does it again so that the limit it
// sizes its connections by is the one in force whatever started it.)
func raiseFDLimit() (before, after fdLimits, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fdLimits{}, fdLimits{}, err
	}
	before = fdLimits{lim.Cur, lim.Max}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return before, before, err
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return before, before, err
	}
	return before, fdLimits{lim.Cur, lim.Max}, nil
}

// fdReserve is what the default connection limit leaves of the open-file
// limit for everything else mlgate opens: the listeners and the admin
// listener's connections, model and cache files, registry and artifact
// connections, and the runtime's own descriptors. It is the larger of 128
// and a tenth of the limit.
func fdReserve(soft uint64) uint64 { return max(128, soft/10) }

// maxConnectionsCap bounds the default connection limit when the open-file
// limit is very large (a million is common in containers).
const maxConnectionsCap = 262144

// defaultMaxConnections is --max-connections' default for a soft open-file
// limit: the limit less fdReserve, between 1 and maxConnectionsCap.
func defaultMaxConnections(soft uint64) int {
	if soft <= fdReserve(soft) {
		return 1
	}
	return int(min(soft-fdReserve(soft), maxConnectionsCap))
}
