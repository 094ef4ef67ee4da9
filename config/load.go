package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error lists every problem of one configuration file, each as file:line.
type Error struct {
	File     string
	Problems Problems
}

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		lines = append(lines, e.format(p))
	}
	return strings.Join(lines, "\n")
}

func (e *Error) format(p Problem) string {
	loc := e.File
	if loc == "" {
		loc = "(embedded defaults)"
	}
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Path != "" {
		return fmt.Sprintf("%s: %s: %s", loc, p.Path, p.Message)
	}
	return fmt.Sprintf("%s: %s", loc, p.Message)
}

// Load reads, strictly decodes and validates a configuration file. Unknown
// keys, wrong types and bad values are all reported, each with its line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg := Default()
	cfg.File = path
	cfg.BaseDir = filepath.Dir(abs)
	if err := Parse(cfg, data); err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type config\.(\w+)$`)

// Parse decodes data onto cfg (which holds the defaults) and validates it.
func Parse(cfg *Config, data []byte) error {
	e := &Error{File: cfg.File}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		e.Problems = append(e.Problems, syntaxProblem(err))
		return e
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// io.EOF means an empty file: all defaults.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			e.Problems = append(e.Problems, syntaxProblem(err))
			return e
		}
		for _, msg := range te.Errors {
			e.Problems = append(e.Problems, typeProblem(msg))
		}
	}
	var ps Problems
	cfg.Validate(&ps)
	for _, p := range ps {
		p.Line = lineOf(&root, p.Path)
		e.Problems = append(e.Problems, p)
	}
	if len(e.Problems) == 0 {
		return nil
	}
	sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Line < e.Problems[j].Line })
	return e
}

func syntaxProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Problem{Line: n, Message: "YAML syntax: " + m[2]}
	}
	return Problem{Message: "YAML syntax: " + msg}
}

func typeProblem(msg string) Problem {
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return Problem{Message: msg}
	}
	n, _ := strconv.Atoi(m[1])
	text := m[2]
	if u := unknownFieldRE.FindStringSubmatch(text); u != nil {
		text = fmt.Sprintf("unknown key %q (in %s; see packaging/sealgate.yaml for the keys it takes)", u[1], u[2])
	} else if strings.HasPrefix(text, "cannot unmarshal") {
		text = "wrong type: " + strings.ReplaceAll(text, "!!", "")
	}
	return Problem{Line: n, Message: text}
}

// lineOf finds the line of a path such as "smtp.listeners[1].address" in the
// parsed tree, falling back to the nearest ancestor that exists.
func lineOf(root *yaml.Node, path string) int {
	if root == nil || len(root.Content) == 0 {
		return 0
	}
	n := root.Content[0]
	line := n.Line
	for _, part := range splitPath(path) {
		next := child(n, part)
		if next == nil {
			return line
		}
		n, line = next, next.Line
	}
	return line
}

func splitPath(path string) []string {
	var parts []string
	for _, p := range strings.Split(path, ".") {
		for p != "" {
			i := strings.IndexByte(p, '[')
			if i < 0 {
				parts = append(parts, p)
				break
			}
			if i > 0 {
				parts = append(parts, p[:i])
			}
			j := strings.IndexByte(p, ']')
			if j < i {
				parts = append(parts, p[i:])
				break
			}
			parts = append(parts, p[i:j+1])
			p = p[j+1:]
		}
	}
	return parts
}

func child(n *yaml.Node, part string) *yaml.Node {
	if strings.HasPrefix(part, "[") {
		idx, err := strconv.Atoi(strings.Trim(part, "[]"))
		if err != nil || n.Kind != yaml.SequenceNode || idx < 0 || idx >= len(n.Content) {
			return nil
		}
		return n.Content[idx]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == part {
			// Point at the key's line: that is where an admin looks.
			if v := n.Content[i+1]; v.Kind == yaml.ScalarNode {
				return v
			}
			return n.Content[i+1]
		}
	}
	return nil
}
