package remotewrite

import (
	"encoding/binary"
	"fmt"

	"github.com/vigil-monitoring/vigil/storage"
)

// A block is what the queue holds for one stored batch (or a part of a
// large one): a version byte, the sequence number of its first sample,
// its sample count, and the batch's encoding (storage.Batch.Encoded).
//
// Sequence numbers count the samples ever queued for the remote. They
// let the reader skip a block it has already passed (the journal may
// write a block into the queue a second time after a crash) and count
// exactly the samples of blocks that were dropped.
const (
	blockVersion    = 1
	blockHeaderSize = 1 + 8 + 4

	// maxBlockBytes bounds a block, well under persistentqueue's
	// MaxBlockSize (32 MiB), so that dropping the oldest block frees
	// little more than needed.
	maxBlockBytes = 8 << 20
)

// appendBlock appends the block of batch b, whose first sample has
// sequence number seq, to dst.
func appendBlock(dst []byte, seq uint64, b storage.Batch) []byte {
	return append(appendBlockHeader(dst, seq, b.Len()), b.Encoded()...)
}

// appendBlockHeader appends the header of a block of n samples, the first
// with sequence number seq, to dst; the batch's encoding follows it.
func appendBlockHeader(dst []byte, seq uint64, n int) []byte {
	dst = append(dst, blockVersion)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// blockHeader is the sequence number and sample count of a block.
type blockHeader struct {
	seq uint64
	n   uint64
}

// end is the sequence number after the block's last sample.
func (h blockHeader) end() uint64 { return h.seq + h.n }

// parseBlock splits a block into its header and the batch's encoding,
// which points into block.
func parseBlock(block []byte) (blockHeader, []byte, error) {
	if len(block) < blockHeaderSize {
		return blockHeader{}, nil, fmt.Errorf("block of %d bytes is shorter than its header", len(block))
	}
	if block[0] != blockVersion {
		return blockHeader{}, nil, fmt.Errorf("block version %d; this Vigil reads version %d", block[0], blockVersion)
	}
	h := blockHeader{seq: binary.BigEndian.Uint64(block[1:]), n: uint64(binary.BigEndian.Uint32(block[9:]))}
	return h, block[blockHeaderSize:], nil
}
