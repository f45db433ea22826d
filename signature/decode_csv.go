package signature

// decodeCSV decodes a text/csv body as pandas.read_csv reads it with its
// defaults: a header row naming the columns, then one row per record,
// fields separated by commas, optionally quoted with '"' (a doubled quote
// inside a quoted field is a quote), blank lines skipped, and empty or
// "NA"-like fields missing. A CSV request carries no params.
//
// The body is copied into the batch's scratch so that string values can
// alias it; the copy and the cell table are reused, so a warm batch
// decodes CSV without allocating unless a column is binary.
func (d *scratch) decodeCSV(body []byte, b *Batch) error {
	d.csv, d.df = true, true
	d.format = "CSV"
	d.body = append(d.body[:0], body...)
	d.maxBody = max(d.maxBody, len(body))
	buf := d.body
	i := 0
	if len(buf) >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF {
		i = 3 // a UTF-8 byte order mark
	}
	line := 1
	// The header.
	i, line = skipBlankLines(buf, i, line)
	if i >= len(buf) {
		return badRequest("the CSV body is empty; expected a header row naming the columns")
	}
	var err error
	if i, err = d.csvRecord(buf, i, line); err != nil {
		return err
	}
	ncols := len(d.spans)
	for c := range ncols {
		d.keys = append(d.keys, d.spanText(d.spans[c]))
	}
	d.spans = d.spans[:0]
	line++
	rows := 0
	for {
		i, line = skipBlankLines(buf, i, line)
		if i >= len(buf) {
			break
		}
		start := len(d.spans)
		if i, err = d.csvRecord(buf, i, line); err != nil {
			return err
		}
		if n := len(d.spans) - start; n != ncols {
			return badRequest("CSV line %d has %d fields, but the header has %d; every row needs one field per column", line, n, ncols)
		}
		rows++
		line++
	}
	if rows == 0 {
		return errNoRows(d.format)
	}
	d.rows, d.nslots = rows, ncols
	d.maxRows = max(d.maxRows, rows)
	if err := d.mapSlots(); err != nil {
		return err
	}
	return d.fillTable(b)
}

// skipBlankLines skips empty lines at i, counting them.
func skipBlankLines(buf []byte, i, line int) (int, int) {
	for i < len(buf) {
		switch {
		case buf[i] == '\n':
			i++
		case buf[i] == '\r' && i+1 < len(buf) && buf[i+1] == '\n':
			i += 2
		default:
			return i, line
		}
		line++
	}
	return i, line
}

// csvRecord parses one record starting at i, appending its fields to
// d.spans, and returns the index after its line break.
func (d *scratch) csvRecord(buf []byte, i, line int) (int, error) {
	for {
		if i < len(buf) && buf[i] == '"' {
			// A quoted field; doubled quotes are unescaped into d.text.
			start := i + 1
			j := start
			escaped := false
			for {
				if j >= len(buf) {
					return i, badRequest("CSV line %d: a quoted field is not closed", line)
				}
				if buf[j] == '"' {
					if j+1 < len(buf) && buf[j+1] == '"' {
						escaped = true
						j += 2
						continue
					}
					break
				}
				j++
			}
			if escaped {
				t := len(d.text)
				for k := start; k < j; k++ {
					d.text = append(d.text, buf[k])
					if buf[k] == '"' {
						k++
					}
				}
				d.spans = append(d.spans, span{start: t, end: len(d.text), inText: true})
			} else {
				d.spans = append(d.spans, span{start: start, end: j})
			}
			i = j + 1
			if i < len(buf) && buf[i] != ',' && buf[i] != '\n' && buf[i] != '\r' {
				return i, badRequest("CSV line %d: unexpected %q after a closing quote", line, buf[i])
			}
		} else {
			j := i
			for j < len(buf) && buf[j] != ',' && buf[j] != '\n' && !(buf[j] == '\r' && (j+1 == len(buf) || buf[j+1] == '\n')) {
				j++
			}
			d.spans = append(d.spans, span{start: i, end: j})
			i = j
		}
		switch {
		case i >= len(buf):
			return i, nil
		case buf[i] == ',':
			i++
		case buf[i] == '\n':
			return i + 1, nil
		case buf[i] == '\r':
			if i+1 < len(buf) && buf[i+1] == '\n' {
				return i + 2, nil
			}
			return i + 1, nil
		}
	}
}

// spanText returns the text of a CSV field; it aliases the batch's scratch.
func (d *scratch) spanText(s span) string {
	if s.inText {
		return b2s(d.text[s.start:s.end])
	}
	return b2s(d.body[s.start:s.end])
}
