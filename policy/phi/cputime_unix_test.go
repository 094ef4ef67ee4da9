//go:build unix

package phi

import "syscall"

// cpuSeconds returns the process's user+system CPU time. Benchmarks report
// throughput per CPU second as well as per wall second because the build
// machine is shared and wall-clock figures swing with its load.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
