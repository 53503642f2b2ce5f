// A small, dependency-free JSON reader/writer for the Connect JSON wire format.
// Why hand-written: Unity's API compatibility levels differ in what System.Runtime.Serialization offers,
// IL2CPP strips reflection-based serializers, JsonUtility cannot read proto3 JSON (oneofs, omitted fields,
// int64 as strings, maps of unknown shape), and Newtonsoft is a NuGet/UPM dependency. This file compiles the
// same under Unity's Mono/IL2CPP and Debian's mcs (-langversion:7.2).
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace DccBridge.Core
{
    public enum JsonKind { Null, Bool, Number, String, Array, Object }

    /// <summary>An immutable-ish JSON value. Objects keep insertion order.</summary>
    public sealed class JsonValue
    {
        public static readonly JsonValue Null = new JsonValue(JsonKind.Null);

        public JsonKind Kind { get; private set; }
        private bool _bool;
        private string _text;          // string value, or the number's literal text
        private List<JsonValue> _items;
        private List<KeyValuePair<string, JsonValue>> _members;

        private JsonValue(JsonKind kind) { Kind = kind; }

        public static JsonValue Bool(bool value) { var v = new JsonValue(JsonKind.Bool); v._bool = value; return v; }
        public static JsonValue Str(string value)
        {
            if (value == null) return Null;
            var v = new JsonValue(JsonKind.String); v._text = value; return v;
        }
        public static JsonValue Number(double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value))
                throw new ArgumentException("JSON numbers must be finite, got " + value);
            var v = new JsonValue(JsonKind.Number); v._text = value.ToString("R", CultureInfo.InvariantCulture); return v;
        }
        public static JsonValue Number(long value)
        {
            var v = new JsonValue(JsonKind.Number); v._text = value.ToString(CultureInfo.InvariantCulture); return v;
        }
        public static JsonValue RawNumber(string literal) { var v = new JsonValue(JsonKind.Number); v._text = literal; return v; }
        public static JsonValue NewArray() { var v = new JsonValue(JsonKind.Array); v._items = new List<JsonValue>(); return v; }
        public static JsonValue NewObject()
        {
            var v = new JsonValue(JsonKind.Object); v._members = new List<KeyValuePair<string, JsonValue>>(); return v;
        }

        // -- building ------------------------------------------------------------------------------
        public JsonValue Set(string key, JsonValue value)
        {
            RequireKind(JsonKind.Object);
            for (int i = 0; i < _members.Count; i++)
                if (_members[i].Key == key) { _members[i] = new KeyValuePair<string, JsonValue>(key, value ?? Null); return this; }
            _members.Add(new KeyValuePair<string, JsonValue>(key, value ?? Null));
            return this;
        }
        public JsonValue Set(string key, string value) { return Set(key, Str(value)); }
        public JsonValue Set(string key, long value) { return Set(key, Number(value)); }
        public JsonValue Set(string key, double value) { return Set(key, Number(value)); }
        public JsonValue Set(string key, bool value) { return Set(key, Bool(value)); }
        public JsonValue Add(JsonValue value) { RequireKind(JsonKind.Array); _items.Add(value ?? Null); return this; }

        // -- reading -------------------------------------------------------------------------------
        public bool IsNull { get { return Kind == JsonKind.Null; } }
        public int Count { get { return Kind == JsonKind.Array ? _items.Count : Kind == JsonKind.Object ? _members.Count : 0; } }
        public IList<JsonValue> Items { get { return Kind == JsonKind.Array ? (IList<JsonValue>)_items : new JsonValue[0]; } }
        public IEnumerable<KeyValuePair<string, JsonValue>> Members
        {
            get { return Kind == JsonKind.Object ? (IEnumerable<KeyValuePair<string, JsonValue>>)_members : new KeyValuePair<string, JsonValue>[0]; }
        }

        /// <summary>The member, or JsonValue.Null when absent (proto3 JSON leaves out default values).</summary>
        public JsonValue this[string key]
        {
            get
            {
                if (Kind != JsonKind.Object) return Null;
                for (int i = 0; i < _members.Count; i++) if (_members[i].Key == key) return _members[i].Value;
                return Null;
            }
        }
        public JsonValue this[int index] { get { return Kind == JsonKind.Array && index < _items.Count ? _items[index] : Null; } }
        public bool Has(string key) { return !this[key].IsNull; }

        public string AsString(string fallback = "")
        {
            if (Kind == JsonKind.String || Kind == JsonKind.Number) return _text;
            if (Kind == JsonKind.Bool) return _bool ? "true" : "false";
            return fallback;
        }
        public bool AsBool(bool fallback = false) { return Kind == JsonKind.Bool ? _bool : fallback; }
        /// <summary>Numbers and numeric strings (proto3 writes 64-bit integers as strings).</summary>
        public double AsDouble(double fallback = 0)
        {
            if (Kind != JsonKind.Number && Kind != JsonKind.String) return fallback;
            double d;
            if (_text == "NaN") return double.NaN;
            if (_text == "Infinity") return double.PositiveInfinity;
            if (_text == "-Infinity") return double.NegativeInfinity;
            return double.TryParse(_text, NumberStyles.Float, CultureInfo.InvariantCulture, out d) ? d : fallback;
        }
        public long AsLong(long fallback = 0)
        {
            if (Kind != JsonKind.Number && Kind != JsonKind.String) return fallback;
            long l;
            if (long.TryParse(_text, NumberStyles.Integer, CultureInfo.InvariantCulture, out l)) return l;
            double d = AsDouble(double.NaN);
            return double.IsNaN(d) ? fallback : (long)d;
        }
        public int AsInt(int fallback = 0) { return (int)AsLong(fallback); }
        public float AsFloat(float fallback = 0) { return (float)AsDouble(fallback); }

        private void RequireKind(JsonKind kind)
        {
            if (Kind != kind) throw new InvalidOperationException("JSON value is " + Kind + ", not " + kind);
        }

        // -- text ----------------------------------------------------------------------------------
        public override string ToString() { var sb = new StringBuilder(); Write(sb, this, -1, 0); return sb.ToString(); }
        public string ToString(bool indented) { var sb = new StringBuilder(); Write(sb, this, indented ? 2 : -1, 0); return sb.ToString(); }

        private static void Write(StringBuilder sb, JsonValue v, int indent, int depth)
        {
            switch (v.Kind)
            {
                case JsonKind.Null: sb.Append("null"); break;
                case JsonKind.Bool: sb.Append(v._bool ? "true" : "false"); break;
                case JsonKind.Number: sb.Append(v._text); break;
                case JsonKind.String: WriteString(sb, v._text); break;
                case JsonKind.Array:
                    sb.Append('[');
                    for (int i = 0; i < v._items.Count; i++)
                    {
                        if (i > 0) sb.Append(',');
                        NewLine(sb, indent, depth + 1);
                        Write(sb, v._items[i], indent, depth + 1);
                    }
                    if (v._items.Count > 0) NewLine(sb, indent, depth);
                    sb.Append(']');
                    break;
                default:
                    sb.Append('{');
                    for (int i = 0; i < v._members.Count; i++)
                    {
                        if (i > 0) sb.Append(',');
                        NewLine(sb, indent, depth + 1);
                        WriteString(sb, v._members[i].Key);
                        sb.Append(indent >= 0 ? ": " : ":");
                        Write(sb, v._members[i].Value, indent, depth + 1);
                    }
                    if (v._members.Count > 0) NewLine(sb, indent, depth);
                    sb.Append('}');
                    break;
            }
        }

        private static void NewLine(StringBuilder sb, int indent, int depth)
        {
            if (indent < 0) return;
            sb.Append('\n');
            sb.Append(' ', indent * depth);
        }

        public static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        public static JsonValue Parse(string text) { return new JsonParser(text).ParseDocument(); }
    }

    /// <summary>A strict recursive-descent parser (RFC 8259).</summary>
    internal sealed class JsonParser
    {
        private readonly string _s;
        private int _i;
        private const int MaxDepth = 128;

        public JsonParser(string text) { _s = text ?? throw new ArgumentNullException("text"); }

        public JsonValue ParseDocument()
        {
            SkipWhitespace();
            var value = ParseValue(0);
            SkipWhitespace();
            if (_i != _s.Length) throw Error("unexpected text after the JSON value");
            return value;
        }

        private FormatException Error(string what) { return new FormatException("JSON: " + what + " at offset " + _i); }

        private void SkipWhitespace()
        {
            while (_i < _s.Length && (_s[_i] == ' ' || _s[_i] == '\t' || _s[_i] == '\n' || _s[_i] == '\r')) _i++;
        }

        private JsonValue ParseValue(int depth)
        {
            if (depth > MaxDepth) throw Error("nesting too deep");
            if (_i >= _s.Length) throw Error("unexpected end");
            char c = _s[_i];
            if (c == '{') return ParseObject(depth);
            if (c == '[') return ParseArray(depth);
            if (c == '"') return JsonValue.Str(ParseString());
            if (c == 't') { Expect("true"); return JsonValue.Bool(true); }
            if (c == 'f') { Expect("false"); return JsonValue.Bool(false); }
            if (c == 'n') { Expect("null"); return JsonValue.Null; }
            if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber();
            throw Error("unexpected character '" + c + "'");
        }

        private void Expect(string word)
        {
            if (string.CompareOrdinal(_s, _i, word, 0, word.Length) != 0) throw Error("expected " + word);
            _i += word.Length;
        }

        private JsonValue ParseObject(int depth)
        {
            var obj = JsonValue.NewObject();
            _i++;
            SkipWhitespace();
            if (_i < _s.Length && _s[_i] == '}') { _i++; return obj; }
            while (true)
            {
                SkipWhitespace();
                if (_i >= _s.Length || _s[_i] != '"') throw Error("expected a member name");
                string key = ParseString();
                SkipWhitespace();
                if (_i >= _s.Length || _s[_i] != ':') throw Error("expected ':'");
                _i++;
                SkipWhitespace();
                obj.Set(key, ParseValue(depth + 1));
                SkipWhitespace();
                if (_i >= _s.Length) throw Error("unterminated object");
                if (_s[_i] == ',') { _i++; continue; }
                if (_s[_i] == '}') { _i++; return obj; }
                throw Error("expected ',' or '}'");
            }
        }

        private JsonValue ParseArray(int depth)
        {
            var arr = JsonValue.NewArray();
            _i++;
            SkipWhitespace();
            if (_i < _s.Length && _s[_i] == ']') { _i++; return arr; }
            while (true)
            {
                SkipWhitespace();
                arr.Add(ParseValue(depth + 1));
                SkipWhitespace();
                if (_i >= _s.Length) throw Error("unterminated array");
                if (_s[_i] == ',') { _i++; continue; }
                if (_s[_i] == ']') { _i++; return arr; }
                throw Error("expected ',' or ']'");
            }
        }

        private string ParseString()
        {
            _i++; // opening quote
            var sb = new StringBuilder();
            while (true)
            {
                if (_i >= _s.Length) throw Error("unterminated string");
                char c = _s[_i++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                if (_i >= _s.Length) throw Error("unterminated escape");
                char e = _s[_i++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (_i + 4 > _s.Length) throw Error("short \\u escape");
                        sb.Append((char)int.Parse(_s.Substring(_i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        _i += 4;
                        break;
                    default: throw Error("bad escape \\" + e);
                }
            }
        }

        private JsonValue ParseNumber()
        {
            int start = _i;
            if (_s[_i] == '-') _i++;
            while (_i < _s.Length && "0123456789+-.eE".IndexOf(_s[_i]) >= 0) _i++;
            string literal = _s.Substring(start, _i - start);
            double ignored;
            if (!double.TryParse(literal, NumberStyles.Float, CultureInfo.InvariantCulture, out ignored))
                throw Error("bad number '" + literal + "'");
            return JsonValue.RawNumber(literal);
        }
    }
}
