"""The given-name recognizer reports its results the way Presidio reads them."""

from __future__ import annotations

from presidio_analyzer import RecognizerResult

from curation.pii.recognizers.persons import NameListRecognizer


def test_name_list_results_carry_the_recognizer_metadata_and_no_misplaced_explanation() -> None:
    # The metadata was passed in the analysis-explanation slot, so each result had no
    # recognition metadata and a dict where Presidio expects an AnalysisExplanation.
    recognizer = NameListRecognizer()
    text = "Maria Lopez wrote back. Thanks, Maria! later: maria lopez called"

    results = recognizer.analyze(text, ["PERSON"])

    assert len(results) >= 2
    for result in results:
        assert result.analysis_explanation is None
        assert result.recognition_metadata == {
            RecognizerResult.RECOGNIZER_NAME_KEY: "CuratorNameListRecognizer",
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        }
