package writer

import (
	"errors"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ClickHouse's error codes (src/Common/ErrorCodes.cpp) the writer tells
// apart. A server's exception that is none of transientCodes refuses the
// insert as sent: retrying the same rows gets the same answer, so the
// batch is split (commit); dataCodes are about the rows themselves.
var (
	transientCodes = map[int32]bool{
		3:   true, // UNEXPECTED_END_OF_FILE
		16:  true, // NO_SUCH_COLUMN_IN_TABLE (a schema being migrated)
		32:  true, // ATTEMPT_TO_READ_AFTER_EOF
		60:  true, // UNKNOWN_TABLE
		81:  true, // UNKNOWN_DATABASE
		159: true, // TIMEOUT_EXCEEDED
		164: true, // READONLY
		173: true, // CANNOT_ALLOCATE_MEMORY
		192: true, // UNKNOWN_USER
		194: true, // REQUIRED_PASSWORD
		201: true, // QUOTA_EXCEEDED
		202: true, // TOO_MANY_SIMULTANEOUS_QUERIES
		203: true, // NO_FREE_CONNECTION
		209: true, // SOCKET_TIMEOUT
		210: true, // NETWORK_ERROR
		225: true, // NO_ZOOKEEPER
		236: true, // ABORTED
		241: true, // MEMORY_LIMIT_EXCEEDED
		242: true, // TABLE_IS_READ_ONLY
		243: true, // NOT_ENOUGH_SPACE
		252: true, // TOO_MANY_PARTS (merges behind; but see isRefusal)
		279: true, // ALL_CONNECTION_TRIES_FAILED
		285: true, // TOO_FEW_LIVE_REPLICAS
		286: true, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
		319: true, // UNKNOWN_STATUS_OF_INSERT
		394: true, // QUERY_WAS_CANCELLED
		425: true, // SYSTEM_ERROR
		439: true, // CANNOT_SCHEDULE_TASK
		497: true, // ACCESS_DENIED
		516: true, // AUTHENTICATION_FAILED
		999: true, // KEEPER_EXCEPTION
	}
	dataCodes = map[int32]bool{
		6:   true, // CANNOT_PARSE_TEXT
		27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
		38:  true, // CANNOT_PARSE_DATE
		41:  true, // CANNOT_PARSE_DATETIME
		53:  true, // TYPE_MISMATCH
		69:  true, // ARGUMENT_OUT_OF_BOUND
		70:  true, // CANNOT_CONVERT_TYPE
		72:  true, // CANNOT_PARSE_NUMBER
		117: true, // INCORRECT_DATA
		128: true, // TOO_LARGE_ARRAY_SIZE
		131: true, // TOO_LARGE_STRING_SIZE
		153: true, // ILLEGAL_DIVISION
		190: true, // SIZES_OF_ARRAYS_DONT_MATCH
		321: true, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
		395: true, // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
		407: true, // DECIMAL_OVERFLOW
		469: true, // VIOLATED_CONSTRAINT
	}
)

// tooManyPartitions is the message of the partition limit, which shares
// TOO_MANY_PARTS (252) with "merges are behind".
const tooManyPartitions = "partitions for single INSERT block"

// exception is ClickHouse's error in err, nil when err is not one (the
// network, a client-side failure).
func exception(err error) *clickhouse.Exception {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return ex
	}
	return nil
}

// isRefusal reports whether ClickHouse refused the insert as sent (an
// exception retrying does not change).
func isRefusal(err error) bool {
	ex := exception(err)
	if ex == nil {
		return false
	}
	return !transientCodes[ex.Code] || (ex.Code == 252 && strings.Contains(ex.Message, tooManyPartitions))
}

// dataError reports whether ClickHouse's refusal is about the rows sent
// (not the server or the schema), so a request refused alone is refused
// for its rows even with no other request beside it.
func dataError(err error) bool {
	ex := exception(err)
	return ex != nil && (dataCodes[ex.Code] || (ex.Code == 252 && strings.Contains(ex.Message, tooManyPartitions)))
}
