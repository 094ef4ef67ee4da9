package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration, addressed by its YAML path
// (for example "smtp.listeners[1].address"). The loader turns the path into
// file:line using the parsed YAML tree.
type Problem struct {
	Path    string
	Message string
	Line    int // filled in by the loader; 0 when unknown
}

// Problems collects every problem found, so that `sealgate config check`
// reports all of them at once rather than the first.
type Problems []Problem

// Add records a problem at path.
func (p *Problems) Add(path, format string, args ...any) {
	*p = append(*p, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Join builds a child path: Join("smtp", "listeners[0]") = "smtp.listeners[0]".
func Join(parent, child string) string {
	if parent == "" {
		return child
	}
	if strings.HasPrefix(child, "[") {
		return parent + child
	}
	return parent + "." + child
}
