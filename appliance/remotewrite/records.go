package remotewrite

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The queue's journal and in-flight files are sequences of records, each
// written with one write call: length, CRC-32C, kind and body. A write
// that returned survives a kill of the process (it is in the kernel); a
// torn last record, which only a power loss leaves, fails its checksum
// and ends the reading there.

var recordCRC = crc32.MakeTable(crc32.Castagnoli)

// recordHeaderSize is the length and CRC-32C in front of a record.
const recordHeaderSize = 8

// maxRecordBytes bounds a record: a block and a little.
const maxRecordBytes = maxBlockBytes + 1024

// The record kinds.
const (
	kindNext  byte = 'N' // body: the sequence number of the next sample (uint64)
	kindBlock byte = 'B' // body: a block
	kindDone  byte = 'D' // body: a delivered request's index (uint32) and the round's fingerprint (uint64)
)

// appendRecord appends one record of kind with body to dst.
func appendRecord(dst []byte, kind byte, body ...[]byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	for _, b := range body {
		dst = append(dst, b...)
	}
	payload := dst[start+recordHeaderSize:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, recordCRC))
	return dst
}

// readRecords calls f with the kind and body of every whole record of the
// file at path, in order. A missing file has no records. It stops at the
// first torn or corrupted record and reports it as torn; body is valid
// only during the call.
func readRecords(path string, f func(kind byte, body []byte) error) (torn error, err error) {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	r := bufio.NewReaderSize(file, 1<<16)
	var hdr [recordHeaderSize]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			return fmt.Errorf("record header: %w", err), nil
		}
		n := binary.LittleEndian.Uint32(hdr[:])
		if n == 0 || n > maxRecordBytes {
			return fmt.Errorf("record of %d bytes", n), nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return fmt.Errorf("record: %w", err), nil
		}
		if crc32.Checksum(payload, recordCRC) != binary.LittleEndian.Uint32(hdr[4:]) {
			return errors.New("record checksum mismatch"), nil
		}
		if err := f(payload[0], payload[1:]); err != nil {
			return nil, err
		}
	}
}

// writeFileAtomic replaces path with data: a crash leaves either the old
// file or the new one. With sync the data and the rename are fsynced too.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if sync {
		syncDir(path)
	}
	return nil
}

// syncDir fsyncs the directory holding path, so that a rename in it
// survives a power loss.
func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
