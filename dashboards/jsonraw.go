package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The JSON a dashboard arrives in is kept as it came; the functions here
// read it generically (for validation with JSON paths) and edit single
// top-level fields without touching the rest of the bytes.

// decodeTree decodes data into maps, slices and json.Numbers. Malformed
// JSON, or JSON that is not one object, is a *ValidationError naming the
// line and column.
func decodeTree(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxProblem(data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		line, col := position(data, int(dec.InputOffset()))
		return nil, invalid("", "malformed JSON at line %d, column %d: more after the end of the dashboard object; send one JSON object", line, col)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("", "a dashboard is a JSON object ({...}), not %s", jsonKind(v))
	}
	return obj, nil
}

// syntaxProblem turns a decoding error into a problem with the line and
// column where it happened.
func syntaxProblem(data []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		// Offset is just past the byte that was wrong.
		off := int(se.Offset)
		if off > 0 && off <= len(data) && strings.HasPrefix(se.Error(), "invalid character") {
			off--
		}
		line, col := position(data, off)
		return invalid("", "malformed JSON at line %d, column %d: %s", line, col, se.Error())
	case errors.Is(err, io.EOF) && len(bytes.TrimSpace(data)) == 0:
		return invalid("", "the body is empty; send the dashboard's JSON")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		line, col := position(data, len(data))
		return invalid("", "malformed JSON at line %d, column %d: the document ends before the dashboard object is closed", line, col)
	}
	return invalid("", "malformed JSON: %v", err)
}

// position is the 1-based line and column (in characters) of byte offset
// off of data.
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	col = len(bytes.Runes(before[lineStart:])) + 1
	return line, col
}

func invalid(path, format string, args ...any) *ValidationError {
	return &ValidationError{Problems: []Problem{{Path: path, Msg: fmt.Sprintf(format, args...)}}}
}

// jsonKind names the JSON type of a decoded value for messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// field is one top-level member of a JSON object: its value's bytes and
// where they are.
type field struct {
	value      json.RawMessage
	start, end int
}

// topLevelFields returns the values of data's top-level keys, as the bytes
// they are in data. data must be a JSON object.
func topLevelFields(data []byte) (map[string]json.RawMessage, error) {
	fs, err := scanFields(data)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(fs))
	for k, f := range fs {
		out[k] = f.value
	}
	return out, nil
}

func scanFields(data []byte) (map[string]field, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, invalid("", "a dashboard is a JSON object")
	}
	out := map[string]field{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, syntaxProblem(data, err)
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxProblem(data, err)
		}
		end := int(dec.InputOffset())
		out[key] = field{value: v, start: end - len(v), end: end}
	}
	return out, nil
}

// setTopLevelString returns a copy of the JSON object data with its
// top-level key set to the string value: the old value is replaced in
// place, or the key is added first. Nothing else changes.
func setTopLevelString(data []byte, key, value string) ([]byte, error) {
	fs, err := scanFields(data)
	if err != nil {
		return nil, err
	}
	enc, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	if f, ok := fs[key]; ok {
		out := make([]byte, 0, len(data)+len(enc))
		out = append(out, data[:f.start]...)
		out = append(out, enc...)
		return append(out, data[f.end:]...), nil
	}
	open := bytes.IndexByte(data, '{')
	k, _ := json.Marshal(key)
	out := make([]byte, 0, len(data)+len(k)+len(enc)+2)
	out = append(out, data[:open+1]...)
	out = append(out, k...)
	out = append(out, ':')
	out = append(out, enc...)
	if len(fs) > 0 {
		out = append(out, ',')
	}
	return append(out, data[open+1:]...), nil
}
