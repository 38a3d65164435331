// Command go-compat speaks the wire protocol exactly as the Go host and the
// original Go agent do (standard library only, same structs and json tags), so
// the TypeScript tests can prove byte compatibility with Go.
//
//	go-compat vectors        print the golden vectors (shared/testdata/go-vectors.json)
//	go-compat echo-requests  read request frames on stdin, write them back re-encoded by Go
//	go-compat host-read      read guest frames on stdin as the host does, print one JSON line each
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

const maxFrame = 16 * 1024 * 1024

// GuestRequest mirrors the Go host's struct (field order and tags matter).
type GuestRequest struct {
	Runtime     string            `json:"runtime"`
	Code        string            `json:"code"`
	CodeArchive []byte            `json:"code_archive,omitempty"`
	Input       []byte            `json:"input,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Entrypoint  string            `json:"entrypoint,omitempty"`
	TimeoutS    int               `json:"timeout_s"`
}

// GuestResponse mirrors the Go host's struct.
type GuestResponse struct {
	ExitCode int      `json:"exit_code"`
	Output   string   `json:"output"`
	Error    string   `json:"error,omitempty"`
	LogLines []string `json:"log_lines,omitempty"`
}

// GuestMessage is the guest→host envelope.
type GuestMessage struct {
	Type     string         `json:"type"`
	Line     string         `json:"line,omitempty"`
	Response *GuestResponse `json:"response,omitempty"`
}

func writeMessage(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(data) > maxFrame {
		return fmt.Errorf("message too large: %d", len(data))
	}
	var header [4]byte
	binary.BigEndian.PutUint32(header[:], uint32(len(data)))
	if _, err := w.Write(header[:]); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(header[:])
	if n > maxFrame {
		return nil, fmt.Errorf("message too large: %d", n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	return data, nil
}

func frame(v any) string {
	var buf bytesBuffer
	if err := writeMessage(&buf, v); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(buf)
}

type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

type vector struct {
	Name  string `json:"name"`
	Frame string `json:"frame"`
	Value any    `json:"value"`
}

func vectors() {
	gzipMagic := []byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff}
	requests := []struct {
		name string
		req  GuestRequest
	}{
		{"minimal-python", GuestRequest{Runtime: "python", Code: "print('hi')\n"}},
		{"full-go", GuestRequest{
			Runtime:     "go",
			Code:        "package main\n\nfunc main() { println(\"<a> & <b> \u2028 é 漢 \b\f\t\x01\") }\n",
			CodeArchive: []byte("not really a tarball \x00\xff"),
			Input:       []byte("line 1\nline 2\n"),
			Env:         map[string]string{"ZED": "last", "ALPHA": "<x>&y", "mid_key": "é", "A1": ""},
			Entrypoint:  "cmd/app/main.go",
			TimeoutS:    5,
		}},
		{"empty-collections-omitted", GuestRequest{Runtime: "node", Code: "console.log(1)", CodeArchive: []byte{}, Env: map[string]string{}, Input: []byte{}}},
		{"invalid-utf8-replaced", GuestRequest{Runtime: "python", Code: "print('\xff\xfe ok')", TimeoutS: 30}},
		{"legacy-base64-archive-in-code", GuestRequest{Runtime: "python", Code: base64.StdEncoding.EncodeToString(gzipMagic)}},
		{"stdin-only", GuestRequest{Runtime: "node", Code: "process.stdin.pipe(process.stdout)", Input: []byte{0, 1, 2, 250, 251, 252}}},
	}
	messages := []struct {
		name string
		msg  GuestMessage
	}{
		{"log-line", GuestMessage{Type: "log", Line: "hello <world> & co \u2029"}},
		{"log-empty-line", GuestMessage{Type: "log", Line: ""}},
		{"result-ok", GuestMessage{Type: "result", Response: &GuestResponse{ExitCode: 0, Output: "hi\n"}}},
		{"result-failure", GuestMessage{Type: "result", Response: &GuestResponse{ExitCode: 1, Output: "", Error: "timed out after 5s", LogLines: []string{"warn: a", "boom"}}}},
		{"result-invalid-utf8", GuestMessage{Type: "result", Response: &GuestResponse{ExitCode: 3, Output: "bad \xc3\x28 byte\n", Error: "exit status 3"}}},
	}
	out := map[string][]vector{}
	for _, r := range requests {
		// The value is how Go itself decodes the frame, re-marshalled: the reference for our decoder.
		var decoded GuestRequest
		raw, _ := base64.StdEncoding.DecodeString(frame(r.req))
		if err := json.Unmarshal(raw[4:], &decoded); err != nil {
			panic(err)
		}
		out["requests"] = append(out["requests"], vector{r.name, frame(r.req), decoded})
	}
	for _, m := range messages {
		var decoded GuestMessage
		raw, _ := base64.StdEncoding.DecodeString(frame(m.msg))
		if err := json.Unmarshal(raw[4:], &decoded); err != nil {
			panic(err)
		}
		out["messages"] = append(out["messages"], vector{m.name, frame(m.msg), decoded})
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}

func echoRequests() error {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		data, err := readFrame(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var req GuestRequest
		if err := json.Unmarshal(data, &req); err != nil {
			return err
		}
		if err := writeMessage(out, req); err != nil {
			return err
		}
	}
}

// hostRead applies the Go host's rules: type must be log or result, a result needs a response.
func hostRead() error {
	in := bufio.NewReader(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for {
		data, err := readFrame(in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return enc.Encode(map[string]string{"host_error": err.Error()})
		}
		var msg GuestMessage
		if err := json.Unmarshal(data, &msg); err != nil {
			return enc.Encode(map[string]string{"host_error": err.Error()})
		}
		switch {
		case msg.Type == "log":
		case msg.Type == "result" && msg.Response != nil:
		case msg.Type == "result":
			return enc.Encode(map[string]string{"host_error": "result without response"})
		default:
			return enc.Encode(map[string]string{"host_error": "unexpected message type " + msg.Type})
		}
		if err := enc.Encode(msg); err != nil {
			return err
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-compat vectors|echo-requests|host-read")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "vectors":
		vectors()
	case "echo-requests":
		err = echoRequests()
	case "host-read":
		err = hostRead()
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-compat:", err)
		os.Exit(1)
	}
}
