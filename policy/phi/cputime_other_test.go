//go:build !unix

package phi

func cpuSeconds() float64 { return 0 }
