package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// parseJSON decodes body, one JSON object, into v. Every refusal is an
// EINVALID *Error that speaks of the body, never of Go: malformed JSON (with
// its byte offset), a key given twice, an unknown field when strict (with
// the known ones), a value of the wrong type (with the field and what it
// takes), trailing data.
func parseJSON(body []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Errorf(EINVALID, "the body is empty: want a JSON object")
	}
	if err := duplicateKeys(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return Errorf(EINVALID, "%s", jsonProblem(err, reflect.TypeOf(v)))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(EINVALID, "malformed JSON body: data after the object")
	}
	return nil
}

// jsonProblem says what is wrong with a body that did not decode into a
// value of type t.
func jsonProblem(err error, t reflect.Type) string {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON body at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON body: it ends before the object does"
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("the body is a JSON %s: want an object", typ.Value)
		}
		return fmt.Sprintf("%s: a JSON %s, want %s", typ.Field, typ.Value, jsonKind(typ.Type))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Sprintf("unknown field %s (known: %s)", name, strings.Join(jsonFields(t), ", "))
	}
	return "malformed JSON body: " + strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names what a field of type t takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

// jsonFields lists the JSON names of the fields of the struct t points to.
func jsonFields(t reflect.Type) []string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	if t == nil || t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// duplicateKeys returns an EINVALID error naming the first key given twice
// in an object of body (at any depth), or nil. Malformed JSON is left to
// the decoder to report.
func duplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return errStop
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return errStop
				}
				key, _ := kt.(string)
				p := joinJSONPath(path, key)
				if seen[key] {
					return Errorf(EINVALID, "%s is given twice", p)
				}
				seen[key] = true
				if err := walk(p); err != nil {
					return err
				}
			}
			_, _ = dec.Token() // '}'
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(path + "[" + strconv.Itoa(i) + "]"); err != nil {
					return err
				}
			}
			_, _ = dec.Token() // ']'
		}
		return nil
	}
	if err := walk(""); err != nil && !errors.Is(err, errStop) {
		return err
	}
	return nil
}

// errStop ends duplicateKeys' walk at malformed JSON.
var errStop = errors.New("stop")

func joinJSONPath(path, key string) string {
	if path == "" {
		return strconv.Quote(key)
	}
	return path + "." + strconv.Quote(key)
}
