package ecr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-dev/berth/core"
)

// awsError is an error in the JSON 1.1 wire shape.
type awsError struct {
	Code    string
	Message string
	Status  int
	Fields  map[string]any // extra members some exceptions carry
}

func (e *awsError) Error() string { return e.Code + ": " + e.Message }

func newError(code, format string, args ...any) *awsError {
	return &awsError{Code: code, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// invalidParameter is ECR's wording for a rejected parameter.
func invalidParameter(param, constraint string) *awsError {
	return newError("InvalidParameterException", "Invalid parameter at '%s' failed to satisfy constraint: '%s'", param, constraint)
}

// kindToException maps core's error kinds to ECR exceptions, once.
var kindToException = map[core.Kind]string{
	core.KindRepositoryNotFound:    "RepositoryNotFoundException",
	core.KindRepositoryExists:      "RepositoryAlreadyExistsException",
	core.KindRepositoryNotEmpty:    "RepositoryNotEmptyException",
	core.KindNameInvalid:           "InvalidParameterException",
	core.KindTagInvalid:            "InvalidParameterException",
	core.KindInvalidParameter:      "InvalidParameterException",
	core.KindManifestInvalid:       "InvalidParameterException",
	core.KindManifestTooLarge:      "InvalidParameterException",
	core.KindManifestNotFound:      "ImageNotFoundException",
	core.KindManifestNotAcceptable: "UnsupportedImageTypeException",
	core.KindManifestBlobMissing:   "LayersNotFoundException",
	core.KindManifestChildMissing:  "ReferencedImagesNotFoundException",
	core.KindBlobNotFound:          "LayersNotFoundException",
	core.KindUploadNotFound:        "UploadNotFoundException",
	core.KindDigestInvalid:         "InvalidParameterException",
	core.KindRangeInvalid:          "InvalidLayerPartException",
	core.KindImageTagImmutable:     "ImageTagAlreadyExistsException",
	core.KindImageAlreadyExists:    "ImageAlreadyExistsException",
	core.KindImageArchived:         "ImageArchivedException",
	core.KindNotFound:              "ResourceNotFoundException",
	core.KindAlreadyExists:         "ResourceAlreadyExistsException",
	core.KindLimitExceeded:         "LimitExceededException",
	core.KindDenied:                "AccessDeniedException",
	core.KindUnsupported:           "UnsupportedOperationException",
	core.KindManifestReferenced:    "InvalidParameterException",
	core.KindSizeInvalid:           "InvalidParameterException",
	core.KindUnauthorized:          "AccessDeniedException",
	core.KindInvalidTagParameter:   "InvalidTagParameterException",
	core.KindTooManyTags:           "TooManyTagsException",
	core.KindLayerPartTooSmall:     "LayerPartTooSmallException",
	core.KindUpstreamUnavailable:   "UnableToGetUpstreamImageException",
	core.KindBlobInUse:             "InvalidParameterException",
	core.KindBodyUnreadable:        "SerializationException",
	// PutImage's model lists no signature error; InvalidParameterException
	// is the one of its errors that fits a refused image.
	core.KindSignatureRequired: "InvalidParameterException",
}

// toAWS maps any error to its wire form. A core error whose kind a handler
// needs to name differently (e.g. a not-found policy) is converted there.
func (h *Handler) toAWS(r *http.Request, err error) *awsError {
	var ae *awsError
	if errors.As(err, &ae) {
		return ae
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		if code, ok := kindToException[ce.Kind]; ok {
			return &awsError{Code: code, Message: ce.Message, Status: http.StatusBadRequest}
		}
	}
	h.log.Error("ECR request failed", "target", r.Header.Get("X-Amz-Target"), "err", err)
	return &awsError{Code: "ServerException", Message: "An internal error occurred.", Status: http.StatusInternalServerError}
}

func writeAWSError(w http.ResponseWriter, e *awsError) {
	body := map[string]any{"__type": e.Code, "message": e.Message}
	for k, v := range e.Fields {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(body)
}
