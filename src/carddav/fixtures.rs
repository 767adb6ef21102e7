//! Real-world shaped vCards shared by the tests.

/// What iOS Contacts PUTs: vCard 3.0, `item1.` groups with `X-ABLabel`, `type=` params,
/// an inline JPEG photo, a folded NOTE, non-ASCII name.
pub const IOS_V3: &str = "BEGIN:VCARD\r\n\
VERSION:3.0\r\n\
PRODID:-//Apple Inc.//iPhone OS 17.4//EN\r\n\
N:Doe;Zoë;;Dr.;\r\n\
FN:Zoë Doe\r\n\
NICKNAME:Zo\r\n\
ORG:Acme\\, Inc.;Sales\r\n\
item1.TEL;type=CELL;type=VOICE;type=pref:+1 (555) 123-4567\r\n\
item1.X-ABLabel:_$!<Mobile>!$_\r\n\
TEL;type=WORK;type=VOICE:+1 555 000 1111\r\n\
item2.EMAIL;type=INTERNET;type=WORK:zoe.doe@example.com\r\n\
item2.X-ABLabel:_$!<Work>!$_\r\n\
ADR;type=HOME:;;1 Main St;Springfield;IL;62701;USA\r\n\
BDAY:1985-04-12\r\n\
NOTE:Met at the trade fair\\, booth 12. Prefers calls in the morning and\r\n \x20emails after lunch.\r\n\
PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgK\r\n \
DBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAAB\r\n \
AAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEA\r\n \
AD8AKp//2Q==\r\n\
X-ABUID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE:ABPerson\r\n\
UID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE\r\n\
END:VCARD\r\n";

/// The base64 of the photo in [`IOS_V3`], unfolded.
pub const IOS_PHOTO_B64: &str = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgK\
DBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAAB\
AAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEA\
AD8AKp//2Q==";

/// A vCard 4.0 with a data: URI photo, a tel: URI, PREF, KIND and a CJK name.
pub const V4_CJK: &str = "BEGIN:VCARD\r\n\
VERSION:4.0\r\n\
KIND:individual\r\n\
FN:李小龍\r\n\
N:李;小龍;;;\r\n\
TEL;VALUE=uri;TYPE=cell;PREF=1:tel:+852-5555-0100\r\n\
EMAIL;TYPE=home:lee@example.hk\r\n\
PHOTO:data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUl\r\n \
EQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n\
URL:https://example.hk/lee?a=1,2;b\r\n\
UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n\
END:VCARD\r\n";

/// The base64 of the photo in [`V4_CJK`], unfolded.
pub const V4_PHOTO_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUl\
EQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A plain vCard 3.0 as Thunderbird/DAVx5 might send it (LF line ends, no groups).
pub const PLAIN_V3: &str = "BEGIN:VCARD\n\
VERSION:3.0\n\
UID:bob-42\n\
FN:Bob Martin\n\
N:Martin;Bob;;;\n\
EMAIL;TYPE=HOME:bob@example.org\n\
TEL;TYPE=HOME:+44 20 7946 0000\n\
CATEGORIES:golf,VIP\n\
END:VCARD\n";
