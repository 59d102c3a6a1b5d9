//! The real sample load files read and checked: every DAT and Opticon file
//! of the Relativity import samples, and `check-volume` on their folder.
//! The samples are found through `PRODSYNC_SAMPLES`; without it each test
//! prints how to enable it and passes without checking.

use std::path::{Path, PathBuf};
use std::process::Command;

use pretty_assertions::assert_eq;
use prodsync::loadfile::checks::{check_dat, check_images, Policy};
use prodsync::loadfile::dat::{read_file, DatFile, DatOptions};
use prodsync::loadfile::image::{inspect, ImageFormat};
use prodsync::loadfile::{ProblemKind, Severity, Volume, VolumeOptions};

/// Returns the sample folder, or `None` after printing how to set it.
fn samples() -> Option<PathBuf> {
    match std::env::var_os("PRODSYNC_SAMPLES") {
        Some(root) => Some(
            PathBuf::from(root)
                .join("relativity-import-samples")
                .join("SampleDataSources"),
        ),
        None => {
            eprintln!("skipped: set PRODSYNC_SAMPLES to the shared samples folder");
            None
        }
    }
}

fn dat(folder: &Path, name: &str) -> DatFile {
    read_file(&folder.join(name), &DatOptions::default()).unwrap()
}

/// Problems of a DAT file as (line, kind, value).
fn problems(file: &DatFile) -> Vec<(usize, ProblemKind, String)> {
    check_dat(file, &Policy::default())
        .into_iter()
        .map(|problem| (problem.line, problem.kind, problem.value))
        .collect()
}

fn control_numbers(file: &DatFile) -> Vec<&str> {
    file.records
        .iter()
        .map(|record| record.fields[0].as_str())
        .collect()
}

#[test]
fn dat01_header_pipe_bom() {
    let Some(folder) = samples() else { return };
    let file = dat(&folder, "load_file_01.dat");
    assert_eq!(file.records.len(), 4);
    assert_eq!(file.detected.delimiters.separator, '|');
    assert_eq!(file.detected.delimiters.qualifier, None);
    assert_eq!(file.detected.encoding, "UTF-8");
    assert_eq!(file.detected.bom, true);
    assert_eq!(file.detected.header, true);
    assert_eq!(file.headers.as_ref().unwrap()[0], "Control Number");
    assert_eq!(file.headers.as_ref().unwrap().len(), 23);
    assert_eq!(
        control_numbers(&file),
        vec![
            "Sample_0000001",
            "Sample_0000002",
            "Sample_0000003",
            "Sample_0000004"
        ]
    );
    assert_eq!(problems(&file), vec![]);
}

#[test]
fn dat02_no_header_no_final_newline() {
    let Some(folder) = samples() else { return };
    let file = dat(&folder, "load_file_02.dat");
    assert_eq!(file.records.len(), 2);
    assert_eq!(file.detected.delimiters.separator, '|');
    assert_eq!(file.detected.bom, true);
    assert_eq!(file.detected.header, false);
    assert_eq!(
        control_numbers(&file),
        vec!["Sample_0000005", "Sample_0000006"]
    );
    assert_eq!(file.records[1].line, 2);
    assert_eq!(
        file.records[1].fields[22],
        ".\\VOL01\\NATIVES\\NATIVE00001\\EDRM-Sample6.emf"
    );
    assert_eq!(problems(&file), vec![]);
}

#[test]
fn dat03_concordance_some_qualified() {
    let Some(folder) = samples() else { return };
    let file = dat(&folder, "load_file_03.dat");
    assert_eq!(file.records.len(), 2);
    assert_eq!(file.detected.delimiters.separator, '\u{14}');
    assert_eq!(file.detected.delimiters.qualifier, Some('þ'));
    assert_eq!(file.detected.encoding, "UTF-8");
    assert_eq!(file.detected.header, false);
    assert_eq!(file.records[0].fields[0], "Sample_0000007");
    assert_eq!(file.records[0].fields[1], "Sample John");
    assert_eq!(file.records[0].fields[4], "4/21/2001 2:48 PM");
    assert_eq!(file.records[0].fields.len(), 23);
    assert_eq!(problems(&file), vec![]);
}

#[test]
fn dat04_qualified_separator() {
    let Some(folder) = samples() else { return };
    let file = dat(&folder, "load_file_04.dat");
    assert_eq!(file.records.len(), 2);
    assert_eq!(file.detected.delimiters.separator, '|');
    assert_eq!(file.detected.delimiters.qualifier, Some('^'));
    assert_eq!(file.detected.bom, false);
    assert_eq!(file.detected.header, true);
    assert_eq!(
        control_numbers(&file),
        vec!["Sample_|_00000013", "Sample_|_00000014"]
    );
    assert_eq!(file.records[0].fields.len(), 23);
    assert_eq!(problems(&file), vec![]);
}

#[test]
fn dat05_impossible_dates() {
    let Some(folder) = samples() else { return };
    let file = dat(&folder, "load_file_05.dat");
    assert_eq!(file.records.len(), 4);
    assert_eq!(file.detected.header, true);
    let expected = vec![
        (
            2,
            ProblemKind::InvalidDate,
            "13/21/2001 3:48 PM".to_string(),
        ),
        (
            2,
            ProblemKind::InvalidDate,
            "13/21/2001 3:48 PM".to_string(),
        ),
        (
            3,
            ProblemKind::InvalidDate,
            "14/21/2001 3:58 PM".to_string(),
        ),
        (
            3,
            ProblemKind::InvalidDate,
            "14/21/2001 3:58 PM".to_string(),
        ),
    ];
    assert_eq!(problems(&file), expected);
}

#[test]
fn dat07_duplicate_and_missing_control_number() {
    let Some(folder) = samples() else { return };
    for index in 0..8 {
        let file = dat(&folder, &format!("load_file_07_{index}.dat"));
        assert_eq!(file.records.len(), 12, "load_file_07_{index}");
        assert_eq!(
            file.detected.delimiters.qualifier,
            Some('þ'),
            "load_file_07_{index}"
        );
        assert_eq!(file.detected.header, false, "load_file_07_{index}");

        let found: Vec<_> = problems(&file)
            .into_iter()
            .filter(|(_, kind, _)| *kind != ProblemKind::MissingFile)
            .collect();
        let expected = vec![
            (
                4,
                ProblemKind::DuplicateControlNumber,
                "Sample_0000073".to_string(),
            ),
            (
                5,
                ProblemKind::ControlNumberGap,
                "Sample_0000074".to_string(),
            ),
        ];
        assert_eq!(found, expected, "load_file_07_{index}");
    }
}

#[test]
fn dat07_0_missing_files() {
    let Some(folder) = samples() else { return };
    let file = dat(&folder, "load_file_07_0.dat");
    let missing: Vec<(usize, String)> = problems(&file)
        .into_iter()
        .filter(|(_, kind, _)| *kind == ProblemKind::MissingFile)
        .map(|(line, _, value)| (line, value.rsplit('\\').next().unwrap().to_string()))
        .collect();
    let expected: Vec<(usize, String)> = [
        (1, "EDRM-Sample1.ppt"),
        (2, "EDRM-Sample2.png"),
        (3, "EDRM-Sample3.ppt"),
        (4, "EDRM-Sample3.png"),
        (5, "EDRM-Sample4.ppt"),
        (6, "EDRM-Sample5.png"),
        (7, "EDRM-Sample6.ppt"),
        (8, "EDRM-Sample7.png"),
        (10, "EDRM-Sampl0.txt"),
        (11, "EDRM-Sample11.txt"),
        (11, "EDRM-Sample9.ppt"),
        (12, "EDRM-Sample12.txt"),
        (12, "EDRM-Sample10.png"),
    ]
    .into_iter()
    .map(|(line, name)| (line, name.to_string()))
    .collect();
    assert_eq!(missing, expected);
}

#[test]
fn dat07_1_to_7_files_exist() {
    let Some(folder) = samples() else { return };
    for index in 1..8 {
        let file = dat(&folder, &format!("load_file_07_{index}.dat"));
        let missing = problems(&file)
            .into_iter()
            .filter(|(_, kind, _)| *kind == ProblemKind::MissingFile)
            .count();
        assert_eq!(missing, 0, "load_file_07_{index}");
    }
}

#[test]
fn rdo_files_detected() {
    let Some(folder) = samples() else { return };
    let cases = [
        ("rdo_load_file_01.dat", '\u{14}', 'þ', 6),
        ("rdo_load_file_02.dat", '|', '^', 6),
        ("rdo_load_file_03.dat", '\u{14}', 'þ', 3),
    ];
    for (name, separator, qualifier, columns) in cases {
        let file = dat(&folder, name);
        assert_eq!(file.records.len(), 3, "{name}");
        assert_eq!(file.detected.delimiters.separator, separator, "{name}");
        assert_eq!(
            file.detected.delimiters.qualifier,
            Some(qualifier),
            "{name}"
        );
        assert_eq!(file.detected.header, true, "{name}");
        assert_eq!(file.headers.as_ref().unwrap()[0], "Name", "{name}");
        assert_eq!(file.expected_fields(), columns, "{name}");
        assert_eq!(problems(&file), vec![], "{name}");
    }
}

#[test]
fn opticon01_one_document() {
    let Some(folder) = samples() else { return };
    let volume = Volume::open(
        &folder.join("Opticon_01.opt"),
        None,
        &VolumeOptions::default(),
    )
    .unwrap();
    assert_eq!(volume.problems, vec![]);
    assert_eq!(volume.documents.len(), 1);
    assert_eq!(volume.page_count(), 5);
    let first = &volume.documents[0].pages[0];
    assert_eq!(first.key, "SYM-00011001_REV");
    assert_eq!(
        first.image_path,
        folder.join("VOL01/IMAGES/IMG001/SYM-00011001_REV.tif")
    );
    assert_eq!(volume.documents[0].pages[4].key, "SYM-00011001_0004_REV");
    assert_eq!(volume.documents[0].control_number, None);
}

#[test]
fn opticon02_keys_differ_from_files() {
    let Some(folder) = samples() else { return };
    let volume = Volume::open(
        &folder.join("opticon_02.opt"),
        None,
        &VolumeOptions::default(),
    )
    .unwrap();
    assert_eq!(volume.problems, vec![]);
    assert_eq!(volume.documents.len(), 1);
    assert_eq!(volume.page_count(), 5);
    let page = &volume.documents[0].pages[2];
    assert_eq!(page.key, "PROD-00011001_0002_REV");
    assert_eq!(
        page.image_path,
        folder.join("VOL01/IMAGES/IMG001/SYM-00011001_0002_REV.tif")
    );
}

#[test]
fn images_sample_tiffs_readable() {
    let Some(folder) = samples() else { return };
    let images = folder.join("VOL01/IMAGES/IMG001");
    for name in [
        "SYM-00011001_REV.tif",
        "SYM-00011001_0001_REV.tif",
        "SYM-00011001_0002_REV.tif",
        "SYM-00011001_0003_REV.tif",
        "SYM-00011001_0004_REV.tif",
    ] {
        let info = inspect(&images.join(name)).unwrap();
        assert_eq!(info.format, ImageFormat::Tiff, "{name}");
        assert_eq!(info.pages, Some(1), "{name}");
    }
}

#[test]
fn image_text_as_tiff_rejected() {
    let Some(folder) = samples() else { return };
    let path = folder.join("VOL01/IMAGES/IMG001/TextAsTiffFile.tif");
    let error = inspect(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        "not a TIFF, JPEG or PDF: starts with bytes 536f6d6520746578"
    );
}

#[test]
fn image_text_as_tiff_in_opticon() {
    let Some(folder) = samples() else { return };
    let text = "T1,VOL01,.\\VOL01\\IMAGES\\IMG001\\TextAsTiffFile.tif,Y,,,1\r\n";
    let pages = prodsync::opticon::parse(text, Path::new("t.opt")).unwrap();
    let documents = prodsync::opticon::group_documents(pages, Path::new("t.opt")).unwrap();

    let found = check_images(&folder.join("t.opt"), &documents, &Policy::default());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, ProblemKind::UnreadableImage);
    assert_eq!(found[0].severity, Severity::Error);
    assert_eq!(found[0].line, 1);
}

fn check_volume(arguments: &[&Path]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_prodsync"))
        .arg("check-volume")
        .args(arguments)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    (output.status.code().unwrap(), stdout)
}

#[test]
fn cli_folder_reports_errors() {
    let Some(folder) = samples() else { return };
    let (code, stdout) = check_volume(&[&folder]);
    let has = |line: String| stdout.lines().any(|output| output == line);
    let dat07 = folder.join("load_file_07_3.dat");
    let dat05 = folder.join("load_file_05.dat");

    assert_eq!(code, 1);
    assert!(has(format!(
        "{}: 1 documents, 5 pages",
        folder.join("Opticon_01.opt").display()
    )));
    assert!(has(format!(
        "{}: 2 records, separator '|', qualifier Some('^'), encoding UTF-8, header yes",
        folder.join("load_file_04.dat").display()
    )));
    assert!(has(format!(
        "{}:4: Sample_0000073: duplicate control number, first at line 3 (error)",
        dat07.display()
    )));
    assert!(has(format!(
        "{}:5: Sample_0000074: control number missing between Sample_0000073 and Sample_0000075 (warning)",
        dat07.display()
    )));
    assert!(stdout.contains(&format!(
        "{}:2: 13/21/2001 3:48 PM: invalid date",
        dat05.display()
    )));
    assert!(has("25 errors, 8 warnings".to_string()));
}

#[test]
fn cli_opticon_passes() {
    let Some(folder) = samples() else { return };
    let (code, stdout) = check_volume(&[&folder.join("opticon_02.opt")]);
    assert_eq!(code, 0);
    assert!(stdout.ends_with("0 errors, 0 warnings\n"), "{stdout}");
}

#[test]
fn cli_opticon_with_bad_dat_fails() {
    let Some(folder) = samples() else { return };
    let opticon = folder.join("Opticon_01.opt");
    let dat = folder.join("load_file_05.dat");
    let (code, stdout) = check_volume(&[&opticon, Path::new("--dat"), &dat]);
    assert_eq!(code, 1);
    assert!(stdout.contains("4 errors, 0 warnings"), "{stdout}");
}
