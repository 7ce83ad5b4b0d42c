package blob

// MapWindow lets tests map a file in windows smaller than a test blob.
var MapWindow = &mapWindow
