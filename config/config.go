// Package config holds what every part of mailsift's YAML configuration
// shares: strict decoding that names the offending line, byte sizes written
// as "50MB", and secrets read from the environment or a file.
//
// Each package owns its own options struct; this package only knows how to
// fill them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load decodes the YAML file at path into v, strictly: an unknown key, a
// wrong type or a bad duration is an error naming the file and line.
func Load(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := Decode(b, v); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Decode is Load for bytes already read.
func Decode(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return tidy(err)
	}
	return nil
}

// tidy flattens yaml.v3's multi-line TypeError into one line, since every
// error mailsift prints is one line.
func tidy(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			// Users know keys, not Go types: `line 3: field nmae not found in
			// type main.File` becomes `line 3: unknown key "nmae"`.
			msgs[i] = unknownField.ReplaceAllString(m, `unknown key "$1"`)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)

// Node is a section of the config kept undecoded until its owner, known only
// at run time (an analyzer, an output), decodes it into its own struct.
// Node satisfies analyzers.Options.
type Node struct {
	node *yaml.Node
	name string
}

// UnmarshalYAML keeps the raw node.
func (n *Node) UnmarshalYAML(v *yaml.Node) error {
	n.node = v
	return nil
}

// Named returns n labelled for error messages (e.g. "analyzers.clamav").
func (n Node) Named(name string) Node {
	n.name = name
	return n
}

// IsZero reports whether the section was absent or empty.
func (n Node) IsZero() bool {
	return n.node == nil || (n.node.Kind == yaml.ScalarNode && n.node.Tag == "!!null")
}

// Decode fills v from the section, rejecting keys v has no field for.
// yaml.v3 only checks known fields when decoding from a Decoder, not from a
// Node, so the check is done here by walking the node against v's type.
func (n Node) Decode(v any) error {
	if n.IsZero() {
		return nil
	}
	if err := checkKnown(n.node, reflect.TypeOf(v)); err != nil {
		return n.wrap(err)
	}
	if err := n.node.Decode(v); err != nil {
		return n.wrap(tidy(err))
	}
	return nil
}

// Take removes key from a mapping section and decodes its value into v,
// reporting whether it was present. It lets a caller own a key (such as
// "enabled") that the section's struct should not have to declare.
func (n Node) Take(key string, v any) (bool, error) {
	if n.node == nil || n.node.Kind != yaml.MappingNode {
		return false, nil
	}
	c := n.node.Content
	for i := 0; i+1 < len(c); i += 2 {
		if c[i].Value == key {
			if err := c[i+1].Decode(v); err != nil {
				return true, n.wrap(tidy(err))
			}
			n.node.Content = append(c[:i:i], c[i+2:]...)
			return true, nil
		}
	}
	return false, nil
}

func (n Node) wrap(err error) error {
	if n.name == "" {
		return err
	}
	return fmt.Errorf("%s: %w", n.name, err)
}

func checkKnown(n *yaml.Node, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		return checkKnown(n.Alias, t)
	}
	// Types that decode themselves define their own rules.
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // yaml.v3 reports the type mismatch itself
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown key %q (known: %s)", k.Line, k.Value, known(fields))
			}
			if err := checkKnown(n.Content[i+1], ft); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if err := checkKnown(c, t.Elem()); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				if err := checkKnown(n.Content[i], t.Elem()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// yamlFields maps the YAML key of each field of struct t (inline structs
// flattened) to the field's type, following yaml.v3's naming rules.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func known(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
