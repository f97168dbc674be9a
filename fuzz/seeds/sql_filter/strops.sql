TAGS NOT STARTSWITH 'tmp' /* c */ AND a <> -5L -- x
